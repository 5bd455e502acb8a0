"""H. IPv6 / v4-mapped (inet6_bind, inet6_getname, tcp_v6_connect -> tcp_v4_connect for mapped, inet_bind_conflict v6only)."""
import socket, struct, time
from common import *

V6, V4 = socket.AF_INET6, socket.AF_INET
V6ONLY = (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)


def s6(v6only=None, reuse=False):
    s = tcp(V6)
    if v6only is not None:
        s.setsockopt(*V6ONLY, v6only)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


section('H1 inet6 listener [::]:P, V6ONLY default 0, IPv4 client from 127.0.0.1')
l = s6(); l.bind(('::', 5100)); l.listen(4)
c = tcp(); c.connect((L4, 5100))
a, peer = l.accept(); _ = bounded(a)
note('accept() peer address', peer); note('accepted getsockname', a.getsockname()); note('accepted getpeername', a.getpeername())
note('accepted family / V6ONLY', (a.family, a.getsockopt(*V6ONLY))); note('client getsockname / getpeername', (c.getsockname(), c.getpeername()))
a.close()
c6 = tcp(V6); t('IPv6 client [::1] to same listener', lambda: c6.connect(('::1', 5100)), c6)
a, peer = l.accept(); note('accept() peer', peer); a.close()
closeall()

section('H2 inet6 listener [::]:P with V6ONLY=1')
l = s6(1); l.bind(('::', 5101)); l.listen(4)
c = tcp(); t('IPv4 connect 127.0.0.1:P', lambda: c.connect((L4, 5101)), c)
c6 = tcp(V6); t('IPv6 connect ::ffff:127.0.0.1:P (mapped)', lambda: c6.connect(('::ffff:127.0.0.1', 5101)), c6)
c6 = tcp(V6); t('IPv6 connect [::1]:P', lambda: c6.connect(('::1', 5101)), c6)
closeall()

section('H3 inet6 [::]:P bound first, then inet binds the same port')
P = 5110
for v6only in (0, 1):
    for reuse in (False, True):
        for lst in (False, True):
            for addr4 in ('0.0.0.0', L4):
                P += 1
                a6 = s6(v6only, reuse); a6.bind(('::', P))
                if lst:
                    a6.listen(4)
                b = tcp()
                if reuse:
                    b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                print(f'  [::]:P V6ONLY={v6only} reuse(both)={int(reuse)} {"LISTEN" if lst else "bound "} ; inet bind {addr4}:P -> {call(lambda: b.bind((addr4, P)))}', flush=True)
                a6.close(); b.close()
section('H3b reverse order: inet bound first, then inet6 [::]:P')
for v6only in (0, 1):
    for addr4 in ('0.0.0.0', L4):
        for a6addr in ('::', '::1', '::ffff:127.0.0.1', '::ffff:0.0.0.0'):
            P += 1
            b = tcp(); b.bind((addr4, P)); b.listen(4)
            a6 = s6(v6only)
            print(f'  inet {addr4}:P LISTEN ; inet6 [{a6addr}]:P V6ONLY={v6only} bind -> {call(lambda: a6.bind((a6addr, P)))}', flush=True)
            closeall()

section('H4 AF_INET socket given an IPv6 address')
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
sin6 = struct.pack('!HHI16sI', 0, 5100, 0, socket.inet_pton(V6, '::1'), 0)
sin6 = struct.pack('=H', V6) + sin6[2:]            # sa_family is host order
def raw(fn, s, addr):
    r = fn(s.fileno(), ctypes.c_char_p(addr), len(addr))
    return 'ok' if r == 0 else ename(ctypes.get_errno())
c = tcp(); t("Python AF_INET connect(('::1', p)) (resolver, no syscall)", lambda: c.connect(('::1', 5100)), c)
c = tcp(); note('libc connect(AF_INET fd, sockaddr_in6 [::1], 28)', raw(libc.connect, c, sin6) + f' state={st(c)}')
c = tcp(); note('libc bind(AF_INET fd, sockaddr_in6 [::1], 28)', raw(libc.bind, c, sin6) + f' state={st(c)}')
c6 = tcp(V6); sin = struct.pack('=H', V4) + struct.pack('!H4s8s', 5150, socket.inet_aton(L4), b'')
note('libc connect(AF_INET6 fd, sockaddr_in 127.0.0.1, 16)', raw(libc.connect, c6, sin))
closeall()

section('H5 inet6 socket connect to ::ffff:127.0.0.1 of an IPv4 listener')
l = listener(5150)
c6 = tcp(V6); t('connect ::ffff:127.0.0.1:5150', lambda: c6.connect(('::ffff:127.0.0.1', 5150)), c6)
note('getsockname', call(c6.getsockname)); note('getpeername', call(c6.getpeername))
a, peer = l.accept(); note('IPv4 listener accept() peer', peer); a.close()
c6 = s6(1); t('same with V6ONLY=1', lambda: c6.connect(('::ffff:127.0.0.1', 5150)), c6)
c6 = tcp(V6); c6.bind(('::1', 0)); t('inet6 bound [::1]:0 then connect mapped', lambda: c6.connect(('::ffff:127.0.0.1', 5150)), c6)
c6 = tcp(V6); c6.bind(('::ffff:127.0.0.1', 0)); note('inet6 bound [::ffff:127.0.0.1]:0 getsockname', c6.getsockname())
t('  ... connect [::1]:p (v6 dst from v4-mapped src)', lambda: c6.connect(('::1', 5100)), c6)
c6 = tcp(V6); c6.setblocking(False); r = c6.connect_ex(('::ffff:127.0.0.1', 5151)); time.sleep(0.05)
note('inet6 non-blocking connect to mapped dead port', f'{ename(r)} SO_ERROR={ename(c6.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))} sockname={call(c6.getsockname)} state={st(c6)}')
c6 = tcp(V6); c6.setblocking(False); r = c6.connect_ex(('::1', 5151)); time.sleep(0.05)
note('inet6 non-blocking connect to [::1] dead port', f'{ename(r)} SO_ERROR={ename(c6.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))} sockname={call(c6.getsockname)} state={st(c6)}')
closeall()
