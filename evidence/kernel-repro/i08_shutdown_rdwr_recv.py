"""8. shutdown(SHUT_RDWR) on a connected socket, then non-blocking recv (with and without queued data)."""
from tc import *
import time
L = listener(5800)
print('8a nothing queued')
c = tcp(); c.connect((L4, 5800)); a, _ = L.accept()
t('shutdown(SHUT_RDWR)', lambda: c.shutdown(socket.SHUT_RDWR), c); c.setblocking(False)
t('recv nb', lambda: c.recv(10), c); t('send', lambda: c.send(b'x'), c)
a.send(b'late'); time.sleep(0.05); t('recv nb after peer sent data', lambda: c.recv(10), c)
t('shutdown(SHUT_RDWR) again', lambda: c.shutdown(socket.SHUT_RDWR), c); c.close(); a.close()
print('8b data queued before the shutdown')
c = tcp(); c.connect((L4, 5800)); a, _ = L.accept(); a.send(b'queued'); time.sleep(0.05)
t('shutdown(SHUT_RDWR)', lambda: c.shutdown(socket.SHUT_RDWR), c); c.setblocking(False)
t('recv nb', lambda: c.recv(10), c); t('recv nb', lambda: c.recv(10), c); c.close(); a.close()
print('8c shutdown(SHUT_RD) only, nothing queued; blocking recv (3 s bound)')
c = tcp(); c.connect((L4, 5800)); a, _ = L.accept()
t('shutdown(SHUT_RD)', lambda: c.shutdown(socket.SHUT_RD), c); t('recv (blocking)', lambda: c.recv(10), c)
a.send(b'after'); time.sleep(0.05); t('recv after peer sent', lambda: c.recv(10), c); c.close(); a.close()
