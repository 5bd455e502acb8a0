"""A. poll() revents, events = IN|PRI|OUT|RDHUP|ERR|HUP, timeout 0 (decided by tcp_poll / inet_csk_listen_poll)."""
import errno, os, socket, struct, time
from common import *


def row(label, s, extra=''):
    fd = s if isinstance(s, int) else s.fileno()
    state = '' if isinstance(s, int) else st(s)
    print(f'  {label:<50} {pm(fd):<62} state={state} {extra}', flush=True)


section('A. poll revents (mask for registered set; [all-bits] = same fd registered with 0xffff)')
s = tcp(); row('A1 fresh socket', s)
s = tcp(); s.bind((L4, 0)); row('A2 bound 127.0.0.1:0', s)
l = listener(); row('A3 listener, empty queue', l)
c = tcp(); c.connect(l.getsockname()); time.sleep(0.05); row('A4 listener, one connection queued', l)
c, l2, f = syn_sent(); row('A5 non-blocking connect in SYN_SENT', c)
c, a, l = pair(); row('A6 ESTABLISHED (client), nothing received', c)
a.send(b'hello'); time.sleep(0.05); row('A7 ESTABLISHED, 5 bytes unread', c)
c, a, l = pair(); a.shutdown(socket.SHUT_WR); time.sleep(0.05); row('A8 CLOSE_WAIT (peer SHUT_WR), no unread data', c)
c, a, l = pair(); a.send(b'hello'); a.shutdown(socket.SHUT_WR); time.sleep(0.05); row('A9 CLOSE_WAIT with 5 unread bytes', c)
c, a, l = pair(); c.shutdown(socket.SHUT_WR); time.sleep(0.05); row('A10 own SHUT_WR (FIN_WAIT2)', c)
c, a, l = pair(); c.shutdown(socket.SHUT_RD); time.sleep(0.05); row('A11 own SHUT_RD on ESTABLISHED', c)
c, a, l = pair(); c.shutdown(socket.SHUT_RDWR); time.sleep(0.05); row('A12 own SHUT_RDWR', c)
c, l = rst_pair(); row('A13 after peer RST, before recv', c)
t('     recv(10)', lambda: c.recv(10), c)
row('A14 after peer RST, after recv reported the error', c)
t('     recv(10) again', lambda: c.recv(10), c)
c, r = refused(); print(f'     connect_ex -> {ename(r)}')
row('A15 refused non-blocking connect, before SO_ERROR', c)
t('     getsockopt SO_ERROR', lambda: ename(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)), c)
row('A16 refused non-blocking connect, after SO_ERROR', c)
# TIME_WAIT: client active closer, both SHUT_WR, both read EOF, client fd still open
c, a, l = pair()
c.shutdown(socket.SHUT_WR); time.sleep(0.05)
print('     server recv ->', a.recv(10)); a.shutdown(socket.SHUT_WR); time.sleep(0.05)
print('     client recv ->', c.recv(10))
row('A17 fd whose connection is in TIME_WAIT (active closer)', c)
print('     ss:', ss(f'sport = :{c.getsockname()[1]}'))
row('A17b the passive closer (LAST_ACK acked -> CLOSE), fd open', a)
# LAST_ACK held: peer advertises zero window, our FIN is queued behind unsent data
l = listener()
c = tcp(); c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)   # peer = c; tiny window
c.connect(l.getsockname()); a = accept(l); a.setblocking(False)
n = 0
try:
    while n < 10_000_000:
        n += a.send(b'x' * 4096)
except BlockingIOError:
    pass
time.sleep(0.2)
try:
    while True:
        n += a.send(b'x' * 4096)
except BlockingIOError:
    pass
c.shutdown(socket.SHUT_WR); time.sleep(0.05)          # a -> CLOSE_WAIT
a.shutdown(socket.SHUT_WR); time.sleep(0.05)          # a -> LAST_ACK, FIN not yet sendable
row(f'A18 LAST_ACK (FIN queued behind {n} B, peer window 0)', a)
c.close(); time.sleep(0.05)
row('A18b same after peer closed with unread data (RST)', a)
# POLLNVAL
s = tcp(); fd = s.fileno(); s.close()
try:
    os.fstat(fd); print('  fd reused?!')
except OSError:
    row('A19 closed fd number', fd)
l = listener(); t('     listener shutdown(SHUT_RD)', lambda: l.shutdown(socket.SHUT_RD), l)
row('A20 listener after shutdown(SHUT_RD)', l)
l = listener(); c = tcp(); c.connect(l.getsockname()); time.sleep(0.05)
t('     listener(with 1 queued) shutdown(SHUT_RD)', lambda: l.shutdown(socket.SHUT_RD), l)
row('A20b listener with queued conn after SHUT_RD', l)
print('     queued client now', st(c), pm(c))
l = listener(); t('     listener shutdown(SHUT_WR)', lambda: l.shutdown(socket.SHUT_WR), l)
row('A21 listener after shutdown(SHUT_WR)', l)
closeall()
