"""1. Blocking connect() refused (no listener), then listen/bind/connect/send/recv/shutdown on that socket."""
from tc import *
DEAD = (L4, 9)   # nobody listens on port 9

print('1a unbound, refused, then listen')
s = tcp(); t('connect(dead)', lambda: s.connect(DEAD), s); t('getsockname', s.getsockname)
t('listen(1)', lambda: s.listen(1), s); t('getsockname', s.getsockname); s.close()

print('1b bound to 127.0.0.1:5001 first, refused, then listen')
s = tcp(); s.bind((L4, 5001)); t('connect(dead)', lambda: s.connect(DEAD), s); t('getsockname', s.getsockname)
t('listen(1)', lambda: s.listen(1), s); t('getsockname', s.getsockname); s.close()

print('1c bound to port 0 first (no port lock), refused, then listen')
s = tcp(); s.bind((L4, 0)); t('connect(dead)', lambda: s.connect(DEAD), s); t('getsockname', s.getsockname)
t('listen(1)', lambda: s.listen(1), s); t('getsockname', s.getsockname); s.close()

print('1d unbound, refused, then bind, then listen')
s = tcp(); t('connect(dead)', lambda: s.connect(DEAD), s)
t('bind(127.0.0.1:5002)', lambda: s.bind((L4, 5002)), s); t('listen(1)', lambda: s.listen(1), s); s.close()

print('1e bound 5003, refused, then bind again, then listen')
s = tcp(); s.bind((L4, 5003)); t('connect(dead)', lambda: s.connect(DEAD), s)
t('bind(127.0.0.1:5004)', lambda: s.bind((L4, 5004)), s); t('listen(1)', lambda: s.listen(1), s); s.close()

print('1f unbound, refused, then connect again / send / recv / shutdown')
s = tcp(); t('connect(dead)', lambda: s.connect(DEAD), s)
t('connect(dead) again', lambda: s.connect(DEAD), s)
t('send', lambda: s.send(b'x'), s); t('recv', lambda: s.recv(10), s)
for how in ('SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'):
    t(f'shutdown({how})', lambda: s.shutdown(getattr(socket, how)), s)
L = listener(5005); t('connect(live listener)', lambda: s.connect((L4, 5005)), s); s.close()

print('1g non-blocking connect refused: connect again, then SO_ERROR')
s = tcp(); s.setblocking(False); t('connect(dead) nonblocking', lambda: s.connect(DEAD), s)
import select; select.select([], [s], [], 2)
t('connect(dead) again', lambda: s.connect(DEAD), s)
t('SO_ERROR', lambda: s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), s)
t('listen(1)', lambda: s.listen(1), s); s.close()
