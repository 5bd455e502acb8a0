"""5. listen() on a descriptor whose connection went to TIME_WAIT (it closed first, via shutdown(SHUT_WR))."""
from tc import *
import time
L = listener(5500)

def to_time_wait(bind=None):
    c = tcp()
    if bind: c.bind(bind)
    c.connect((L4, 5500)); a, _ = L.accept()
    c.shutdown(socket.SHUT_WR); time.sleep(0.05)   # our FIN first: FIN_WAIT1 -> FIN_WAIT2
    a.close(); time.sleep(0.1)                     # peer FIN: FIN_WAIT2 -> TIME_WAIT
    tw = [l for l in open('/proc/net/tcp').read().splitlines()[1:] if l.split()[3] == '06']
    print(f'  {"TIME_WAIT entries in /proc/net/tcp":<46} -> {len(tw)}')
    return c

for label, bind in (('5a explicitly bound (127.0.0.1:5501) before connect', (L4, 5501)),
                    ('5b autobound by connect', None)):
    print(label)
    c = to_time_wait(bind); t('getsockname', c.getsockname, c)
    t('listen(1)', lambda: c.listen(1), c)
    t('connect again', lambda: c.connect((L4, 5500)), c)
    t('bind(5509)', lambda: c.bind((L4, 5509)), c)
    t('recv', lambda: c.recv(10), c); t('send', lambda: c.send(b'x'), c)
    t('shutdown(SHUT_RD)', lambda: c.shutdown(socket.SHUT_RD), c); c.close()
print('5c a fresh socket binding the TIME_WAIT port (no SO_REUSEADDR), then listen')
s = tcp(); t('bind(5501)', lambda: s.bind((L4, 5501)), s)
s2 = tcp(); s2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t('bind(5501) with SO_REUSEADDR', lambda: s2.bind((L4, 5501)), s2); t('listen(1)', lambda: s2.listen(1), s2)
