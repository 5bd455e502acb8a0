"""C. getsockname/getpeername (inet_getname / inet6_getname)."""
import ctypes, socket, struct, time
from common import *

libc = ctypes.CDLL(None, use_errno=True)


def unspec(s):
    r = libc.connect(s.fileno(), ctypes.c_char_p(b'\0' * 16), 16)
    return 'ok' if r == 0 else ename(ctypes.get_errno())


def free(s):
    """Is the port getsockname shows still held?  Bind a fresh socket without SO_REUSEADDR to it."""
    try:
        port = s.getsockname()[1]
    except OSError:
        return '-'
    if port == 0:
        return '-'
    t = socket.socket(s.family, socket.SOCK_STREAM)
    try:
        t.bind(('127.0.0.1' if s.family == socket.AF_INET else '::1', port))
        return 'released'
    except OSError as e:
        return 'held(' + ename(e.errno) + ')'
    finally:
        t.close()


def both(label, s):
    print(f'  {label:<46} sockname={call(s.getsockname):<28} peername={call(s.getpeername):<28} state={st(s):<11} port:{free(s)}', flush=True)


section('C. getsockname / getpeername')
s = tcp(); both('C1 fresh', s)
s = tcp(); s.bind((L4, 0)); both('C2 bound 127.0.0.1:0', s)
l = listener(); both('C3 listener', l)
c, l2, f = syn_sent(); both('C4 SYN_SENT (autobound, SYN dropped)', c)
c, a, l = pair(); both('C5 ESTABLISHED client', c); both('C5b ESTABLISHED accepted child', a)
a.shutdown(socket.SHUT_WR); time.sleep(0.05); both('C6 CLOSE_WAIT', c)
c, a, l = pair(); c.shutdown(socket.SHUT_WR); time.sleep(0.05); both('C7 FIN_WAIT2', c)
c, l = rst_pair(); both('C8 after peer RST, autobound client', c)
t('   recv', lambda: c.recv(10), c); both('C8b  ... after recv reported ECONNRESET', c)
c, l = rst_pair(explicit_port=40001); both('C9 after peer RST, client bound :40001', c)
c, r = refused(); both(f'C10 refused connect, autobound ({ename(r)})', c)
both('C10b  ... again (port stable?)', c)
print('     ss for that port:', ss(f'sport = :{call(lambda: c.getsockname()[1])}'))
t('   SO_ERROR', lambda: c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)); both('C10c  ... after SO_ERROR read', c)
c, r = refused(bindport=40002); both(f'C11 refused connect, bound :40002', c)
c, a, l = pair()
port = c.getsockname()[1]
c.shutdown(socket.SHUT_WR); time.sleep(0.05); a.recv(1); a.shutdown(socket.SHUT_WR); time.sleep(0.05); c.recv(1)
both(f'C12 TIME_WAIT fd (autobound port was {port})', c)
print('     ss:', ss(f'sport = :{port}'))
c, a, l = pair(); both('C13 ESTABLISHED before connect(AF_UNSPEC)', c)
note('   connect(AF_UNSPEC)', unspec(c)); both('C13 after connect(AF_UNSPEC) (autobound)', c)
l = listener(); c = tcp(); c.bind((L4, 40003)); c.connect(l.getsockname())
note('   connect(AF_UNSPEC)', unspec(c)); both('C14 after connect(AF_UNSPEC) (bound :40003)', c)
l = listener(); c = tcp(); c.bind((L4, 0)); c.connect(l.getsockname()); p = c.getsockname()
note('   connect(AF_UNSPEC)', unspec(c)); both(f'C15 after AF_UNSPEC (bound 127.0.0.1:0 -> {p[1]})', c)
s6 = tcp(socket.AF_INET6); both('C16 IPv6 fresh unbound', s6)
s6 = tcp(socket.AF_INET6); s6.bind(('::', 0)); both('C17 IPv6 bound [::]:0', s6)
closeall()
