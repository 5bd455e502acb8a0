(let ((a!1 (not (<= (+ dn2.sent (* (- 1) dn2.read)) (- 1))))
      (a!2 (not (<= (+ up1.sent (* (- 1) up1.read)) (- 1))))
      (a!3 (not (<= (+ up2.sent (* (- 1) up2.read)) (- 1))))
      (a!4 (not (<= (+ dn1.sent (* (- 1) dn1.read)) (- 1))))
      (a!5 (not (>= (+ C1.rcvq (* (- 1) dn1.sent) dn1.read) 1)))
      (a!6 (not (<= (+ dn2.sent (* (- 1) dn2.read) (* (- 1) C2.rcvq)) (- 1))))
      (a!7 (not (<= (+ up2.sent (* (- 1) up2.read) (* (- 1) A2.rcvq)) (- 1))))
      (a!8 (not (>= (+ up2.fl (* (- 1) up2.sent) up2.read A2.rcvq) 1)))
      (a!9 (not (>= (+ up2.fl (* (- 1) up2.sent) up2.read) 1)))
      (a!10 (not (<= (+ up1.sent (* (- 1) up1.read) (* (- 1) A1.rcvq)) (- 1))))
      (a!11 (not (>= (+ up1.fl (* (- 1) up1.sent) up1.read) 1)))
      (a!12 (not (<= (+ dn2.sent (* (- 1) dn2.read) (* (- 1) dn2.fl)) (- 1))))
      (a!13 (not (<= (+ dn2.sent
                        (* (- 1) dn2.read)
                        (* (- 1) C2.rcvq)
                        (* (- 1) dn2.fl))
                     (- 1))))
      (a!14 (not (<= (+ dn1.sent (* (- 1) dn1.read) (* (- 1) dn1.fl)) (- 1))))
      (a!15 (not (>= (+ up1.fl (* (- 1) up1.sent) up1.read A1.rcvq) 1)))
      (a!16 (not (>= (+ C1.rcvq (* (- 1) dn1.sent) dn1.read dn1.fl) 1))))
  (and (not L.pos)
       a!1
       a!2
       a!3
       a!4
       (not ((_ is State.CLOSE_WAIT) L.st))
       (not ((_ is State.CLOSING) L.st))
       (or A1.eofc (not A1.finin))
       a!5
       a!6
       (or (not A2.finin) A2.eofc)
       (or (not A2.live) listened)
       (or (not A2.pos) listened)
       a!7
       (or A2.finout (not ((_ is State.FIN_WAIT_1) A2.st)))
       (or A2.finout (not ((_ is State.CLOSING) A2.st)))
       (or listened (= L.st State.SYN_SENT) (= L.st State.CLOSED))
       a!8
       a!9
       a!10
       a!11
       (or A1.finout (not ((_ is State.FIN_WAIT_1) A1.st)))
       (or A1.wrsh (not ((_ is State.FIN_WAIT_1) A1.st)))
       (or (not up1.v1) up1.v0)
       (or (not A2.finout) (not ((_ is State.SYN_RECEIVED) A2.st)))
       (or (not A1.pos) A1.finout (not ((_ is State.CLOSING) A1.st)))
       (or (not A2.fin1) (not ((_ is State.SYN_RECEIVED) A2.st)))
       (or (not up2.v1) up2.v0)
       a!12
       (or (not dn2.v1) dn2.v0)
       a!13
       (or A2.eofc A2.fin1 (not ((_ is State.FIN_WAIT_1) A2.st)))
       (or A2.wrsh A2.fin1 (not ((_ is State.FIN_WAIT_1) A2.st)))
       (or (not dn1.v1) dn1.v0)
       (or (not A1.finout) A1.fin1 A1.finin)
       (or (not C1.fin1) (not ((_ is State.SYN_SENT) C1.st)))
       (or (not C1.finout) (not ((_ is State.SYN_SENT) C1.st)))
       (or C1.eofc
           (not ((_ is State.CLOSE_WAIT) C1.st))
           (not ((_ is Seg.SYN) up1.k1)))
       (or C1.eofc
           (not up1.v0)
           (not ((_ is State.CLOSE_WAIT) C1.st))
           (not ((_ is Seg.SYN) up1.k0)))
       (or C1.eofc (not A1.live) (not ((_ is State.CLOSE_WAIT) C1.st)))
       a!14
       a!15
       (or (not A1.nb) (not A1.live) (= A1.fd Fd.none))
       (or A1.eofc (not A1.live) (not ((_ is State.CLOSE_WAIT) A1.st)))
       a!16
       (or C1.eofc (not C1.finin))))
