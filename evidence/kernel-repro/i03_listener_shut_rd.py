"""3. A listener shut down with SHUT_RD (tcp_disconnect of a LISTEN socket); then connect/bind/listen/accept."""
from tc import *
import select, time
OTHER = listener(5300)          # something live to connect to

def shut_listener(port, shut=socket.SHUT_RD):
    s = tcp(); s.bind((L4, port)) if port is not None else None; s.listen(4)
    t(f'shutdown({["SHUT_RD","SHUT_WR","SHUT_RDWR"][shut]}) on listener', lambda: s.shutdown(shut), s)
    t('getsockname', s.getsockname)
    return s

print('3a listener bound to 5301; SHUT_RD; accept, non-blocking connect, connect again')
s = shut_listener(5301); s.setblocking(False); t('accept (nb)', s.accept, s)
t('connect(5300) nonblocking', lambda: s.connect((L4, 5300)), s); select.select([], [s], [], 2)
t('connect(5300) again', lambda: s.connect((L4, 5300)), s); t('getsockname', s.getsockname); s.close()
print('3b listener bound to 5302; SHUT_RD; blocking connect; listen')
s = shut_listener(5302); t('connect(5300) blocking', lambda: s.connect((L4, 5300)), s)
t('listen(1)', lambda: s.listen(1), s); s.close()
print('3c listener bound to 5303; SHUT_RD; bind(5304); connect; listen again; accept')
s = shut_listener(5303); t('bind(5304)', lambda: s.bind((L4, 5304)), s)
t('listen(4) again', lambda: s.listen(4), s); t('getsockname', s.getsockname)
c = tcp(); t('client connect(5303)', lambda: c.connect((L4, 5303)), c)
s.settimeout(2); t('accept', lambda: s.accept()[1], s); s.close()
print('3d listener bound to port 0 (no port lock); SHUT_RD; bind(5305); connect')
s = shut_listener(0); t('bind(5305)', lambda: s.bind((L4, 5305)), s)
t('connect(5300)', lambda: s.connect((L4, 5300)), s); t('getsockname', s.getsockname); s.close()
print('3e listener autobound by listen(); SHUT_RD; bind; connect')
s = shut_listener(None); t('bind(5306)', lambda: s.bind((L4, 5306)), s)
t('connect(5300)', lambda: s.connect((L4, 5300)), s); s.close()
print('3f listener SHUT_RD with a queued connection: the queued client sees')
s = tcp(); s.bind((L4, 5307)); s.listen(4); c = tcp(); c.connect((L4, 5307)); time.sleep(0.05)
t('shutdown(SHUT_RD) on listener', lambda: s.shutdown(socket.SHUT_RD), s); time.sleep(0.05)
t('queued client recv', lambda: c.recv(10), c); s.close()
print('3g SHUT_WR on a listener (no-op)')
s = shut_listener(5308, socket.SHUT_WR); t('still listening? accept nb', lambda: (s.setblocking(False), s.accept()), s)
c = tcp(); t('client connect(5308)', lambda: c.connect((L4, 5308)), c); s.close()
