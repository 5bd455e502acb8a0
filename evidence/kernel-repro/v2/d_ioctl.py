"""D. ioctl SIOCINQ(FIONREAD 0x541B) / SIOCOUTQ(0x5411) / SIOCOUTQNSD(0x894B) -> tcp_ioctl."""
import fcntl, socket, struct, time
from common import *

SIOCINQ, SIOCOUTQ, SIOCOUTQNSD = 0x541B, 0x5411, 0x894B


def io(s, req):
    try:
        return str(struct.unpack('i', fcntl.ioctl(s.fileno(), req, b'\0' * 4))[0])
    except OSError as e:
        return ename(e.errno)


def row(label, s):
    print(f'  {label:<56} INQ={io(s, SIOCINQ):<8} OUTQ={io(s, SIOCOUTQ):<8} OUTQNSD={io(s, SIOCOUTQNSD):<8} state={st(s)}', flush=True)


section('D. tcp_ioctl')
s = tcp(); row('D1 fresh', s)
l = listener(); row('D2 listener', l)
c, l2, f = syn_sent(); row('D3 SYN_SENT', c)
c, a, l = pair(); a.send(b'hello'); time.sleep(0.05); row('D4 ESTABLISHED, 5 unread', c)
a.shutdown(socket.SHUT_WR); time.sleep(0.05); row('D5 peer FIN after 5 unread (CLOSE_WAIT)', c)
c.recv(5); row('D5b  ... after reading the 5 bytes (only FIN left)', c)
c.recv(5); row('D5c  ... after reading EOF', c)
c, l = rst_pair(b'hello'); row('D6 after RST with 5 unread bytes', c)
t('   recv(10)', lambda: c.recv(10), c); row('D6b  ... after recv', c)
t('   recv(10) again', lambda: c.recv(10), c); t('   recv(10) third', lambda: c.recv(10), c)
c, l = rst_pair(b'hello'); t('   (fresh copy) SO_ERROR first', lambda: ename(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)), c)
row('D6c  ... INQ after SO_ERROR read', c); t('   recv(10)', lambda: c.recv(10), c)
# RST with data: RFC says unread data is discarded; tcp_reset -> tcp_done does not purge receive queue?
c, a, l = pair(); c.send(b'hello'); row('D7 send 5 B to non-reading peer, immediately', c)
time.sleep(0.05); row('D7b  ... after 50 ms (loopback ACKed)', c)
row('D7c  peer side (5 unread)', a)
# unacked data: peer with zero window
l = listener(); p = tcp(); p.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
p.connect(l.getsockname()); a = accept(l); a.setblocking(False)
n = 0
try:
    for _ in range(5000):
        n += a.send(b'x' * 4096)
except BlockingIOError:
    pass
time.sleep(0.2); row(f'D8 sender after filling zero-window peer ({n} B sent)', a)
row('D8b the non-reading receiver', p)
a.shutdown(socket.SHUT_WR); time.sleep(0.05); row('D8c sender after own SHUT_WR (FIN queued)', a)
p.close(); time.sleep(0.05); row('D8d sender after receiver closed with unread data (RST)', a)
# own SHUT_WR, peer closed after receiving everything
c, a, l = pair(); c.send(b'hello'); time.sleep(0.05); a.recv(10); a.close(); time.sleep(0.05)
row('D9 peer read 5 B then close() (we are CLOSE_WAIT)', c)
c.shutdown(socket.SHUT_WR); time.sleep(0.05); row('D9b  ... then own SHUT_WR', c)
c, a, l = pair(); c.shutdown(socket.SHUT_WR); time.sleep(0.05); row('D10 own SHUT_WR, peer open (FIN_WAIT2)', c)
a.close(); time.sleep(0.05); row('D10b  ... peer close() -> TIME_WAIT (fd CLOSE)', c)
# send after peer vanished: write to a socket whose peer closed with unread data
c, a, l = pair(); a.send(b'x'); a.close(); time.sleep(0.05)
t('   send 5 B after peer close (CLOSE_WAIT)', lambda: c.send(b'hello'), c); time.sleep(0.05)
row('D11 after sending 5 B into a closed peer (RST back)', c)
closeall()
