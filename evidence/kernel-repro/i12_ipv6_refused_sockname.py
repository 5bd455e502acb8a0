"""12. IPv6: connect() of an unbound socket to [::1]:port with no listener; getsockname after the failure."""
from tc import *
import select
A6 = socket.AF_INET6
print('12a blocking, unbound')
s = tcp(A6); t('getsockname before', s.getsockname); t('connect([::1]:9)', lambda: s.connect(('::1', 9)), s)
t('getsockname after', s.getsockname); t('getpeername', s.getpeername); s.close()
print('12b non-blocking, unbound: during SYN_SENT and after the RST')
s = tcp(A6); s.setblocking(False); t('connect([::1]:9) nb', lambda: s.connect(('::1', 9)))
t('getsockname right after connect()', s.getsockname); select.select([], [s], [], 2)
t('SO_ERROR', lambda: s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), s); t('getsockname after', s.getsockname); s.close()
print('12c bound to [::1]:0 first')
s = tcp(A6); s.bind(('::1', 0)); t('getsockname before', s.getsockname)
t('connect([::1]:9)', lambda: s.connect(('::1', 9)), s); t('getsockname after', s.getsockname); s.close()
print('12d v4-mapped: AF_INET6 socket to ::ffff:127.0.0.1:9')
s = tcp(A6); t('connect(::ffff:127.0.0.1:9)', lambda: s.connect(('::ffff:127.0.0.1', 9)), s)
t('getsockname after', s.getsockname); s.close()
print('12e the same for IPv4, for comparison')
s = tcp(); t('connect(127.0.0.1:9)', lambda: s.connect((L4, 9)), s); t('getsockname after', s.getsockname)
print('12f is the stale port in getsockname still held? bind it from another socket (no SO_REUSEADDR)')
port = s.getsockname()[1]; o = tcp(); t(f'other.bind(0.0.0.0:{port})', lambda: o.bind(('0.0.0.0', port)), o)
s6 = tcp(A6); s6.connect_ex(('::1', 9)); p6 = s6.getsockname()[1]; o6 = tcp(A6)
t(f'other.bind([::]:{p6})', lambda: o6.bind(('::', p6)), o6)
