"""G. setsockopt/getsockopt readback (sk_setsockopt/sk_getsockopt in net/core/sock.c, do_tcp_setsockopt/
do_tcp_getsockopt in net/ipv4/tcp.c) and inheritance by accept() (sk_clone_lock copies the sock; tcp_create_openreq_child)."""
import fcntl, os, socket, struct, time
from common import *
import common
_all = common._all

SOL, TCP = socket.SOL_SOCKET, socket.IPPROTO_TCP
TCP_USER_TIMEOUT = getattr(socket, 'TCP_USER_TIMEOUT', 18)
TCP_FASTOPEN = getattr(socket, 'TCP_FASTOPEN', 23)
TCP_QUICKACK = getattr(socket, 'TCP_QUICKACK', 12)
print('rmem_max', open('/proc/sys/net/core/rmem_max').read().strip(), ' wmem_max', open('/proc/sys/net/core/wmem_max').read().strip(),
      ' tcp_rmem', open('/proc/sys/net/ipv4/tcp_rmem').read().split(), ' tcp_wmem', open('/proc/sys/net/ipv4/tcp_wmem').read().split())


def gi(s, lvl, opt):
    return call(lambda: s.getsockopt(lvl, opt))


def gs(s, lvl, opt, fmt):
    return call(lambda: struct.unpack(fmt, s.getsockopt(lvl, opt, struct.calcsize(fmt))))


def setget(label, s, lvl, opt, val, fmt=None):
    if fmt:
        r = call(lambda: s.setsockopt(lvl, opt, struct.pack(fmt, *val)))
        g = gs(s, lvl, opt, fmt)
    else:
        r = call(lambda: s.setsockopt(lvl, opt, val))
        g = gi(s, lvl, opt)
    print(f'  {label:<44} set {str(val):<14} -> {r:<6} readback {g:<18} ({st(s)})', flush=True)


section('G1 defaults')
for nm, mk in (('fresh', lambda: tcp()), ('connected client', lambda: pair()[0]), ('accepted child', lambda: pair()[1])):
    s = mk(); time.sleep(0.05)
    print(f'  {nm:<18} RCVBUF={gi(s, SOL, socket.SO_RCVBUF)} SNDBUF={gi(s, SOL, socket.SO_SNDBUF)} KEEPIDLE={gi(s, TCP, socket.TCP_KEEPIDLE)} '
          f'KEEPINTVL={gi(s, TCP, socket.TCP_KEEPINTVL)} KEEPCNT={gi(s, TCP, socket.TCP_KEEPCNT)} RCVLOWAT={gi(s, SOL, socket.SO_RCVLOWAT)} '
          f'USER_TIMEOUT={gi(s, TCP, TCP_USER_TIMEOUT)} NODELAY={gi(s, TCP, socket.TCP_NODELAY)} CORK={gi(s, TCP, socket.TCP_CORK)} '
          f'QUICKACK={gi(s, TCP, TCP_QUICKACK)} KEEPALIVE={gi(s, SOL, socket.SO_KEEPALIVE)} REUSEADDR={gi(s, SOL, socket.SO_REUSEADDR)} '
          f'LINGER={gs(s, SOL, socket.SO_LINGER, "ii")} RCVTIMEO(after our 2s)={gs(s, SOL, socket.SO_RCVTIMEO, "ll")} '
          f'SO_TYPE={gi(s, SOL, socket.SO_TYPE)} DEFER_ACCEPT={gi(s, TCP, socket.TCP_DEFER_ACCEPT)} MAXSEG={gi(s, TCP, socket.TCP_MAXSEG)}', flush=True)
s = socket.socket(); print('  fresh, no timeouts set: RCVTIMEO', gs(s, SOL, socket.SO_RCVTIMEO, 'll'), 'SNDTIMEO', gs(s, SOL, socket.SO_SNDTIMEO, 'll')); s.close()
c, a, l = pair(); c.sendall(b'x' * 2_000_000 if False else b'x' * 200000); time.sleep(0.05); a.recv(300000)
time.sleep(0.05)
print(f'  after 200 kB transfer: client SNDBUF={gi(c, SOL, socket.SO_SNDBUF)} RCVBUF={gi(c, SOL, socket.SO_RCVBUF)}; child RCVBUF={gi(a, SOL, socket.SO_RCVBUF)} SNDBUF={gi(a, SOL, socket.SO_SNDBUF)}')
closeall()

for where in ('fresh', 'connected'):
    section(f'G2 set/readback on a {where} socket')
    mk = (lambda: tcp()) if where == 'fresh' else (lambda: pair()[0])
    for v in (1, 1000, 65536, 10 ** 7):
        setget('SO_RCVBUF', mk(), SOL, socket.SO_RCVBUF, v)
    for v in (1, 1000, 65536, 10 ** 7):
        setget('SO_SNDBUF', mk(), SOL, socket.SO_SNDBUF, v)
    s = mk()
    setget('SO_KEEPALIVE', s, SOL, socket.SO_KEEPALIVE, 1); setget('SO_KEEPALIVE', s, SOL, socket.SO_KEEPALIVE, 5)
    setget('SO_KEEPALIVE', s, SOL, socket.SO_KEEPALIVE, 0)
    setget('TCP_NODELAY', s, TCP, socket.TCP_NODELAY, 5); setget('TCP_NODELAY', s, TCP, socket.TCP_NODELAY, 0)
    setget('TCP_CORK', s, TCP, socket.TCP_CORK, 5); setget('TCP_CORK', s, TCP, socket.TCP_CORK, 0)
    s2 = mk(); setget('TCP_NODELAY then TCP_CORK: NODELAY', s2, TCP, socket.TCP_NODELAY, 1)
    setget('  ... then CORK=1 (NODELAY readback next)', s2, TCP, socket.TCP_CORK, 1); note('  NODELAY readback', gi(s2, TCP, socket.TCP_NODELAY))
    setget('SO_REUSEADDR', s, SOL, socket.SO_REUSEADDR, 7)
    setget('SO_LINGER', s, SOL, socket.SO_LINGER, (1, 5), 'ii'); setget('SO_LINGER', s, SOL, socket.SO_LINGER, (7, -1), 'ii')
    setget('SO_RCVTIMEO', s, SOL, socket.SO_RCVTIMEO, (1, 500000), 'll')
    setget('SO_RCVTIMEO 1.000001 s', s, SOL, socket.SO_RCVTIMEO, (1, 1), 'll')
    setget('SO_RCVTIMEO 0.0001 s', s, SOL, socket.SO_RCVTIMEO, (0, 100), 'll')
    setget('SO_SNDTIMEO', s, SOL, socket.SO_SNDTIMEO, (1, 500000), 'll')
    setget('TCP_USER_TIMEOUT', s, TCP, TCP_USER_TIMEOUT, 1500)
    setget('TCP_USER_TIMEOUT -1', s, TCP, TCP_USER_TIMEOUT, -1)
    setget('TCP_KEEPIDLE', s, TCP, socket.TCP_KEEPIDLE, 30); setget('TCP_KEEPIDLE 0', s, TCP, socket.TCP_KEEPIDLE, 0)
    setget('TCP_KEEPIDLE 32768', s, TCP, socket.TCP_KEEPIDLE, 32768)
    setget('TCP_KEEPINTVL', s, TCP, socket.TCP_KEEPINTVL, 10); setget('TCP_KEEPINTVL 0', s, TCP, socket.TCP_KEEPINTVL, 0)
    setget('TCP_KEEPCNT', s, TCP, socket.TCP_KEEPCNT, 3); setget('TCP_KEEPCNT 128', s, TCP, socket.TCP_KEEPCNT, 128)
    setget('SO_RCVLOWAT', s, SOL, socket.SO_RCVLOWAT, 100); setget('SO_RCVLOWAT 0', s, SOL, socket.SO_RCVLOWAT, 0)
    setget('SO_RCVLOWAT 10**9', s, SOL, socket.SO_RCVLOWAT, 10 ** 9)
    for v in (1, 5, 10, 30, 100):
        setget('TCP_DEFER_ACCEPT', s, TCP, socket.TCP_DEFER_ACCEPT, v)
    setget('TCP_QUICKACK', s, TCP, TCP_QUICKACK, 0); setget('TCP_QUICKACK', s, TCP, TCP_QUICKACK, 1)
    setget('TCP_QUICKACK 5', s, TCP, TCP_QUICKACK, 5)
    setget('TCP_FASTOPEN (non-listener)', s, TCP, TCP_FASTOPEN, 5)
    note('SO_TYPE', gi(s, SOL, socket.SO_TYPE))
    closeall()

section('G3 listener-only / inet6')
l = tcp(); l.bind((L4, 0)); setget('TCP_FASTOPEN before listen', l, TCP, TCP_FASTOPEN, 5); l.listen(4)
note('  ... after listen', gi(l, TCP, TCP_FASTOPEN)); setget('TCP_FASTOPEN on listener', l, TCP, TCP_FASTOPEN, 7)
s6 = tcp(socket.AF_INET6); note('IPV6_V6ONLY default (inet6)', gi(s6, socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
setget('IPV6_V6ONLY', s6, socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 5)
s6.bind(('::', 0)); setget('IPV6_V6ONLY after bind', s6, socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
note('IPV6_V6ONLY on inet socket', gi(tcp(), socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
closeall()

section('G4 inheritance: set on listener (before listen), read on accept()ed socket [and on the client side for contrast]')
SETS = [('SO_RCVBUF', SOL, socket.SO_RCVBUF, 20000, None), ('SO_SNDBUF', SOL, socket.SO_SNDBUF, 30000, None),
        ('SO_KEEPALIVE', SOL, socket.SO_KEEPALIVE, 1, None), ('TCP_NODELAY', TCP, socket.TCP_NODELAY, 1, None),
        ('SO_REUSEADDR', SOL, socket.SO_REUSEADDR, 1, None),
        ('SO_LINGER', SOL, socket.SO_LINGER, (1, 5), 'ii'), ('SO_RCVTIMEO', SOL, socket.SO_RCVTIMEO, (1, 500000), 'll'),
        ('SO_SNDTIMEO', SOL, socket.SO_SNDTIMEO, (0, 750000), 'll'),
        ('TCP_USER_TIMEOUT', TCP, TCP_USER_TIMEOUT, 1500, None), ('TCP_KEEPIDLE', TCP, socket.TCP_KEEPIDLE, 30, None),
        ('TCP_KEEPINTVL', TCP, socket.TCP_KEEPINTVL, 10, None), ('TCP_KEEPCNT', TCP, socket.TCP_KEEPCNT, 3, None),
        ('SO_RCVLOWAT', SOL, socket.SO_RCVLOWAT, 100, None), ('TCP_MAXSEG', TCP, socket.TCP_MAXSEG, 1000, None)]
l = socket.socket(); _all.append(l)
for nm, lvl, opt, v, fmt in SETS:
    l.setsockopt(lvl, opt, struct.pack(fmt, *v) if fmt else v)
l.bind((L4, 0)); l.listen(4)
c = tcp(); c.connect(l.getsockname()); fd, _ = l._accept(); a = socket.socket(fileno=fd); _all.append(a)
for nm, lvl, opt, v, fmt in SETS:
    lv = gs(l, lvl, opt, fmt) if fmt else gi(l, lvl, opt)
    av = gs(a, lvl, opt, fmt) if fmt else gi(a, lvl, opt)
    print(f'  {nm:<17} set {str(v):<12} listener reads {lv:<14} accepted reads {av:<14} {"INHERITED" if av == lv else "not inherited"}', flush=True)
closeall()
l = socket.socket(); _all.append(l); l.setsockopt(TCP, TCP_QUICKACK, 0); l.setsockopt(TCP, socket.TCP_CORK, 1)
l.setsockopt(TCP, socket.TCP_DEFER_ACCEPT, 0); l.bind((L4, 0)); l.listen(4)
c = tcp(); c.connect(l.getsockname()); fd, _ = l._accept(); a = socket.socket(fileno=fd); _all.append(a)
print(f'  TCP_CORK set 1    listener {gi(l, TCP, socket.TCP_CORK)} accepted {gi(a, TCP, socket.TCP_CORK)};  '
      f'TCP_QUICKACK set 0 listener {gi(l, TCP, TCP_QUICKACK)} accepted {gi(a, TCP, TCP_QUICKACK)}')
l = socket.socket(); _all.append(l); l.bind((L4, 0)); l.listen(4); l.setsockopt(TCP, TCP_QUICKACK, 0)
c = tcp(); c.connect(l.getsockname()); fd, _ = l._accept(); a = socket.socket(fileno=fd); _all.append(a)
print(f'  TCP_QUICKACK set 0 AFTER listen: listener {gi(l, TCP, TCP_QUICKACK)} accepted {gi(a, TCP, TCP_QUICKACK)}')
closeall()
section('G5 O_NONBLOCK on accept(): non-blocking listener, accept4(flags=SOCK_CLOEXEC only) via socket._accept()')
l = socket.socket(); _all.append(l); l.bind((L4, 0)); l.listen(4); l.setblocking(False)
note('listener F_GETFL', hex(fcntl.fcntl(l.fileno(), fcntl.F_GETFL)))
c = tcp(); c.connect(l.getsockname()); time.sleep(0.02)
fd, _ = l._accept()
fl = fcntl.fcntl(fd, fcntl.F_GETFL); note('accepted fd F_GETFL', f'{hex(fl)} O_NONBLOCK={"set" if fl & os.O_NONBLOCK else "clear"}')
note('accepted fd FD_CLOEXEC (Python passes SOCK_CLOEXEC)', fcntl.fcntl(fd, fcntl.F_GETFD))
os.close(fd)
closeall()
