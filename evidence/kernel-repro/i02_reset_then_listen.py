"""2. Blocking connect, ESTABLISHED, peer resets (close with unread data / SO_LINGER 0); then listen, connect."""
from tc import *
import struct, time
L = listener(5200)

def reset_client(how, bind=None):
    c = tcp()
    if bind: c.bind(bind)
    c.connect((L4, 5200)); a, _ = L.accept()
    if how == 'linger0':
        a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    else:  # unread data: the peer's close() must send RST instead of FIN
        c.send(b'unread'); time.sleep(0.05)
    a.close(); time.sleep(0.1)
    return c

for how in ('linger0', 'unread'):
    print(f'2a [{how}] RST arrives; listen straight away (error still pending)')
    c = reset_client(how); t('listen(1)', lambda: c.listen(1), c)
    t('SO_ERROR', lambda: c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), c)
    t('connect again', lambda: c.connect((L4, 5200)), c); c.close()
print('2b RST; recv first (consumes error), then listen, connect, send, recv, shutdown')
c = reset_client('linger0'); t('recv', lambda: c.recv(10), c); t('listen(1)', lambda: c.listen(1), c)
t('connect again', lambda: c.connect((L4, 5200)), c); t('send', lambda: c.send(b'x'), c)
t('recv', lambda: c.recv(10), c); t('shutdown(SHUT_WR)', lambda: c.shutdown(socket.SHUT_WR), c)
t('getpeername', c.getpeername, c); c.close()
print('2c RST; connect again first (error pending)')
c = reset_client('linger0'); t('connect again', lambda: c.connect((L4, 5200)), c)
t('recv', lambda: c.recv(10), c); c.close()
print('2d bound client (127.0.0.1:5201), RST, then bind/listen')
c = reset_client('linger0', (L4, 5201)); t('recv', lambda: c.recv(10), c)
t('bind(5202)', lambda: c.bind((L4, 5202)), c); t('listen(1)', lambda: c.listen(1), c); c.close()
