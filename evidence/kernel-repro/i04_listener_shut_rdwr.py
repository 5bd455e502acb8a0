"""4. shutdown(SHUT_RDWR) on a listener: accept (non-blocking and a blocked accept in a thread), clients."""
from tc import *
import threading, time
print('4a idle listener, SHUT_RDWR, then non-blocking accept, client connect to its port')
s = listener(5400); t('shutdown(SHUT_RDWR)', lambda: s.shutdown(socket.SHUT_RDWR), s)
s.setblocking(False); t('accept (nb)', s.accept, s)
c = tcp(); t('client connect(5400)', lambda: c.connect((L4, 5400)), c); s.close()
print('4b a thread blocked in accept() when the listener is shut down')
s = listener(5401); out = []
def blocked():
    try: s.accept(); out.append('ok')
    except OSError as e: out.append(errno.errorcode[e.errno])
th = threading.Thread(target=blocked, daemon=True); th.start(); time.sleep(0.2)
t('shutdown(SHUT_RDWR)', lambda: s.shutdown(socket.SHUT_RDWR), s); th.join(3)
print(f'  {"blocked accept() returned":<46} -> {out[0] if out else "still blocked"}'); s.close()
print('4c queued (not yet accepted) connection when the listener is shut down')
s = listener(5402); c = tcp(); c.connect((L4, 5402)); time.sleep(0.05)
t('shutdown(SHUT_RDWR)', lambda: s.shutdown(socket.SHUT_RDWR), s); time.sleep(0.05)
t('queued client recv', lambda: c.recv(10), c); t('queued client send', lambda: c.send(b'x'), c)
print('4d shutdown(SHUT_RDWR) on a listener twice')
t('shutdown(SHUT_RDWR) again', lambda: s.shutdown(socket.SHUT_RDWR), s); s.close()
