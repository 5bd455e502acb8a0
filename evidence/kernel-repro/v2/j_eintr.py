"""J. EINTR: blocking accept/recv/connect interrupted by SIGALRM (sock_intr_errno: -EINTR if a timeout
(SO_RCVTIMEO/SO_SNDTIMEO) is set, else -ERESTARTSYS -> EINTR without SA_RESTART, restarted with SA_RESTART).
Handler raises, so Python (PEP 475) does not retry."""
import errno, os, signal, socket, struct, time
from common import *


class Alarm(Exception):
    pass


def handler(sig, frm):
    raise Alarm()


signal.signal(signal.SIGALRM, handler)


def run(label, fn, s, after=0.3, restart=False):
    signal.siginterrupt(signal.SIGALRM, not restart)
    signal.setitimer(signal.ITIMER_REAL, after)
    t0 = time.monotonic()
    try:
        r = fn(); r = 'returned ' + ('ok' if r is None else repr(r))
    except Alarm:
        r = 'EINTR (handler raised Alarm; PEP 475 retry suppressed)'
    except OSError as e:
        r = ename(e.errno)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    print(f'  {label:<58} -> {r} after {time.monotonic() - t0:.2f}s; state={st(s)}', flush=True)


def notimeo(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll', 0, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack('ll', 0, 0))
    return s


# To tell "EINTR reached Python" from "restarted": a raw syscall via ctypes would bypass PEP 475 entirely.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)


def raw_recv(s):
    buf = ctypes.create_string_buffer(10)
    r = libc.recv(s.fileno(), buf, 10, 0)
    return buf.raw[:r] if r >= 0 else 'errno ' + ename(ctypes.get_errno())


def raw_accept(s):
    r = libc.accept(s.fileno(), None, None)
    if r >= 0:
        os.close(r); return 'fd'
    return 'errno ' + ename(ctypes.get_errno())


def raw_connect(s, addr):
    sa = struct.pack('=H', socket.AF_INET) + struct.pack('!H4s8s', addr[1], socket.inet_aton(addr[0]), b'')
    r = libc.connect(s.fileno(), ctypes.c_char_p(sa), 16)
    return 0 if r == 0 else 'errno ' + ename(ctypes.get_errno())


quiet = lambda sig, frm: None
for timeo in (True, False):
    section(f'J accept/recv, {"SO_RCVTIMEO=2s set" if timeo else "no timeout (MAX_SCHEDULE_TIMEOUT)"}')
    prep = (lambda s: s) if timeo else notimeo
    l = prep(listener())
    run('accept() via Python, alarm 0.3 s', lambda: l.accept(), l)
    c = tcp(); c.connect(l.getsockname()); a = accept(l); note('  listener still accepts afterwards', 'yes')
    c, a, l = pair(); prep(c)
    run('recv(10) via Python, alarm 0.3 s', lambda: c.recv(10), c)
    a.send(b'late'); time.sleep(0.02); t('  later recv(10)', lambda: c.recv(10), c)
    # raw libc syscalls with a do-nothing handler: shows the syscall's own return
    signal.signal(signal.SIGALRM, quiet)
    l = prep(listener())
    run('raw libc accept(), quiet handler, no SA_RESTART', lambda: raw_accept(l), l)
    c, a, l2 = pair(); prep(c)
    run('raw libc recv(), quiet handler, no SA_RESTART', lambda: raw_recv(c), c)
    if timeo:
        run('raw libc recv(), quiet handler, SA_RESTART, SO_RCVTIMEO 2s', lambda: raw_recv(c), c, restart=True)
        run('raw libc accept(), quiet handler, SA_RESTART, SO_RCVTIMEO 2s', lambda: raw_accept(l), l, restart=True)
    if not timeo:
        # SA_RESTART: the syscall is restarted; bound it by having a forked child send data at 1.0 s
        pid = os.fork()
        if pid == 0:
            time.sleep(1.0); a.send(b'rst'); os._exit(0)
        run('raw libc recv(), quiet handler, SA_RESTART, data at 1.0 s', lambda: raw_recv(c), c, restart=True)
        os.waitpid(pid, 0)
    signal.signal(signal.SIGALRM, handler)
    closeall()

section('J connect interrupted in SYN_SENT (SYN dropped: backlog-0 listener with full accept queue)')
for timeo in (True, False):
    l = listener(0, backlog=0); f = tcp(); f.connect(l.getsockname()); time.sleep(0.05)
    c = tcp() if timeo else notimeo(tcp())
    run(f'blocking connect(), {"SO_SNDTIMEO=2s" if timeo else "no SO_SNDTIMEO"}, alarm 0.3 s (Python)', lambda: c.connect(l.getsockname()), c)
    c.setblocking(False)
    t('  then non-blocking connect() again', lambda: c.connect(l.getsockname()), c)
    t('  SO_ERROR', lambda: c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), c)
    bounded(c, 3)
    a, _ = l.accept(); a.close()           # free the queue: the next SYN retransmission (1 s) gets through
    t0 = time.monotonic(); r = call(lambda: c.connect(l.getsockname()))
    note('  then blocking connect() again (queue freed)', f'{r} after {time.monotonic() - t0:.2f}s state={st(c)}')
    t('  connect() once more', lambda: c.connect(l.getsockname()), c)
    closeall()
signal.signal(signal.SIGALRM, quiet)
for restart in (False, True):
    l = listener(0, backlog=0); f = tcp(); f.connect(l.getsockname()); time.sleep(0.05)
    c = notimeo(tcp())
    pid = os.fork()
    if pid == 0:
        time.sleep(0.6); a, _ = l.accept(); a.close(); os._exit(0)
    run(f'raw libc connect(), no SO_SNDTIMEO, quiet handler, SA_RESTART={int(restart)}, queue freed at 0.6s', lambda: raw_connect(c, l.getsockname()), c, restart=restart)
    os.waitpid(pid, 0)
    if not restart:
        run('  raw libc connect() again (blocking, child freed queue)', lambda: raw_connect(c, l.getsockname()), c, after=3)
    closeall()
l = listener(0, backlog=0); f = tcp(); f.connect(l.getsockname()); time.sleep(0.05)
c = tcp()
run('raw libc connect(), SO_SNDTIMEO 2s, quiet handler, SA_RESTART=1', lambda: raw_connect(c, l.getsockname()), c, restart=True)
closeall()
l = listener(0, backlog=0); f = tcp(); f.connect(l.getsockname()); time.sleep(0.05)
c = tcp(); c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack('ll', 0, 300000))
t0 = time.monotonic(); r = call(lambda: c.connect(l.getsockname()))
note('no signal: blocking connect() with SO_SNDTIMEO 0.3 s expiring', f'{r} after {time.monotonic() - t0:.2f}s state={st(c)}')
t0 = time.monotonic(); r = call(lambda: c.connect(l.getsockname()))
note('  blocking connect() again, SO_SNDTIMEO 0.3 s expiring', f'{r} after {time.monotonic() - t0:.2f}s state={st(c)}')
closeall()
signal.signal(signal.SIGALRM, signal.SIG_DFL)
