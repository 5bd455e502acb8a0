"""7. shutdown(SHUT_WR) while SYN_SENT (SYN unanswered: the listener's accept queue is full), then send;
   and shutdown(SHUT_WR) on a fresh socket, then connect, then send."""
from tc import *
import time
FULL = listener(5700, 0)                 # backlog 0: one queued connection fills it, later SYNs are dropped
filler = tcp(); filler.connect((L4, 5700)); time.sleep(0.05)

def syn_sent():
    s = tcp(); s.setblocking(False); t('connect nb (SYN dropped)', lambda: s.connect((L4, 5700)), s)
    time.sleep(0.05); return s

print('7a SYN_SENT, shutdown(SHUT_WR), send, send, connect again')
s = syn_sent(); t('shutdown(SHUT_WR)', lambda: s.shutdown(socket.SHUT_WR), s)
t('send', lambda: s.send(b'x'), s); t('send', lambda: s.send(b'x'), s)
t('recv', lambda: s.recv(10), s); t('getsockname', s.getsockname)
t('connect again (nb)', lambda: s.connect((L4, 5700)), s); s.close()
print('7b SYN_SENT, shutdown(SHUT_WR), SO_ERROR, recv')
s = syn_sent(); t('shutdown(SHUT_WR)', lambda: s.shutdown(socket.SHUT_WR), s)
t('SO_ERROR', lambda: s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), s); t('recv', lambda: s.recv(10), s); s.close()
print('7c SYN_SENT, shutdown(SHUT_RD) and (SHUT_RDWR)')
for how in ('SHUT_RD', 'SHUT_RDWR'):
    s = syn_sent(); t(f'shutdown({how})', lambda: s.shutdown(getattr(socket, how)), s)
    t('send', lambda: s.send(b'x'), s); s.close()
print('7d SYN_SENT, send before any shutdown (non-blocking)')
s = syn_sent(); t('send', lambda: s.send(b'x'), s); s.close()
LIVE = listener(5701)
print('7e fresh socket: shutdown(SHUT_WR), connect (blocking, live listener), send, recv')
s = tcp(); t('shutdown(SHUT_WR)', lambda: s.shutdown(socket.SHUT_WR), s)
t('connect(5701)', lambda: s.connect((L4, 5701)), s); a, _ = LIVE.accept()
t('send', lambda: s.send(b'x'), s); a.send(b'hi'); time.sleep(0.05); t('recv', lambda: s.recv(10), s)
t('peer recv', lambda: a.recv(10), a); s.close(); a.close()
print('7f fresh socket: shutdown(SHUT_RD), connect, recv (peer sent data)')
s = tcp(); t('shutdown(SHUT_RD)', lambda: s.shutdown(socket.SHUT_RD), s)
t('connect(5701)', lambda: s.connect((L4, 5701)), s); a, _ = LIVE.accept(); a.send(b'hi'); time.sleep(0.05)
t('recv', lambda: s.recv(10), s); t('send', lambda: s.send(b'x'), s); s.close(); a.close()
print('7g fresh socket: shutdown(SHUT_WR), listen, accept a client, send on the accepted socket')
s = tcp(); t('shutdown(SHUT_WR)', lambda: s.shutdown(socket.SHUT_WR), s); s.bind((L4, 5702))
t('listen', lambda: s.listen(1), s); c = tcp(); c.connect((L4, 5702)); a, _ = s.accept()
t('accepted.send', lambda: a.send(b'x'), a)
