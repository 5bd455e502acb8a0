"""E. connect(AF_UNSPEC) via libc (inet_stream_connect -> __inet_stream_connect -> tcp_disconnect)."""
import ctypes, socket, struct, time
from common import *

libc = ctypes.CDLL(None, use_errno=True)


def unspec(s):
    r = libc.connect(s.fileno(), ctypes.c_char_p(b'\0' * 16), 16)
    return 'ok(0)' if r == 0 else ename(ctypes.get_errno())


LIVE = listener(0, backlog=64)          # a live listener for the reconnect tests
LADDR = LIVE.getsockname()


def mk_fresh():
    return tcp(), None


def mk_listener():
    return listener(), None


def mk_synsent():
    c, l, f = syn_sent()
    return c, None


def mk_est():
    c, a, l = pair()
    return c, a


def mk_closewait():
    c, a, l = pair()
    a.shutdown(socket.SHUT_WR); time.sleep(0.05)
    return c, a


def mk_rst():
    c, l = rst_pair()
    return c, None


def mk_refused():
    c, r = refused()
    return c, None


def mk_refused_read():
    c, r = refused(); c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return c, None


def mk_exlistener():
    l = listener(); l.shutdown(socket.SHUT_RD)
    return l, None


CASES = [('fresh', mk_fresh), ('listener', mk_listener), ('SYN_SENT', mk_synsent), ('ESTABLISHED', mk_est),
         ('CLOSE_WAIT', mk_closewait), ('after peer RST', mk_rst), ('after refused connect', mk_refused),
         ('after refused, SO_ERROR read', mk_refused_read), ('ex-listener (SHUT_RD)', mk_exlistener)]


def reconnect(s):
    s.setblocking(True)
    bounded(s)
    return s.connect(LADDR)


def accept_drain():
    LIVE.setblocking(False)
    try:
        while True:
            a, _ = LIVE.accept(); a.close()
    except BlockingIOError:
        pass


for name, mk in CASES:
    section(f'E[{name}]')
    s, peer = mk()
    before = st(s); sn = call(s.getsockname)
    r = unspec(s)
    print(f'  before: state={before} sockname={sn}')
    print(f'  connect(AF_UNSPEC) -> {r:<12} state after={st(s)} sockname after={call(s.getsockname)} peername={call(s.getpeername)}')
    if peer is not None:
        time.sleep(0.05)
        print(f'  peer: state={st(peer)} recv -> {call(lambda: peer.recv(10))} state={st(peer)}; ss={ss("dport = :%d" % peer.getsockname()[1])}')
    t('then connect(live listener)', lambda: reconnect(s), s)
    accept_drain()
    t('then connect(AF_UNSPEC) again', lambda: unspec(s), s)
    # copy 2: listen; copy 3: bind; plus controls without AF_UNSPEC
    s2, _ = mk(); r2 = unspec(s2); t(f'copy2: AF_UNSPEC({r2}) then listen(4)', lambda: s2.listen(4), s2)
    s3, _ = mk(); r3 = unspec(s3); t(f'copy3: AF_UNSPEC({r3}) then bind(127.0.0.1:0)', lambda: s3.bind((L4, 0)), s3)
    if name != 'fresh':
        t('copy3: ... getsockname', lambda: s3.getsockname())
    c1, _ = mk(); t('control (no AF_UNSPEC): listen(4)', lambda: c1.listen(4), c1)
    c2, _ = mk(); t('control (no AF_UNSPEC): connect(live)', lambda: reconnect(c2), c2)
    accept_drain()
    c3, _ = mk(); t('control (no AF_UNSPEC): bind(127.0.0.1:0)', lambda: c3.bind((L4, 0)), c3)
    closeall() if False else None
# a socket connected once, then AF_UNSPEC, then listen, then connect
section('E[connect->AF_UNSPEC->listen->AF_UNSPEC->connect] (role switch chain)')
s, a = mk_est(); print('  AF_UNSPEC ->', unspec(s), st(s))
t('listen(4)', lambda: s.listen(4), s)
print('  AF_UNSPEC ->', unspec(s), st(s))
t('connect(live)', lambda: reconnect(s), s)
accept_drain()
section('E[IPv6 ESTABLISHED] AF_UNSPEC')
l6 = listener(0, host='::1', family=socket.AF_INET6); c6 = tcp(socket.AF_INET6); c6.connect(l6.getsockname()[:2])
print('  AF_UNSPEC ->', unspec(c6), st(c6), call(c6.getsockname))
section('E[short addrlen] connect(fd, AF_UNSPEC, addrlen=2) and addrlen=1')
s, a = mk_est()
r = libc.connect(s.fileno(), ctypes.c_char_p(b'\0' * 16), 2); print('  addrlen 2 ->', 'ok' if r == 0 else ename(ctypes.get_errno()), st(s))
s, a = mk_est()
r = libc.connect(s.fileno(), ctypes.c_char_p(b'\0' * 16), 1); print('  addrlen 1 ->', 'ok' if r == 0 else ename(ctypes.get_errno()), st(s))
closeall()
