"""6. A RST arrives while we are in CLOSE_WAIT: recv before send, and send before recv."""
from tc import *
import struct, time
L = listener(5600)

def close_wait_then_rst():
    c = tcp(); c.connect((L4, 5600)); a, _ = L.accept()
    a.shutdown(socket.SHUT_WR); time.sleep(0.05)          # peer FIN -> we are CLOSE_WAIT
    print(f'  {"after peer FIN":<46} -> {"":<30} sk_state={st(c)}')
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    a.close(); time.sleep(0.05)                           # peer aborts -> RST reaches CLOSE_WAIT
    return c

print('6a recv first')
c = close_wait_then_rst(); t('state after the RST', lambda: None, c)
t('recv', lambda: c.recv(10), c); t('recv', lambda: c.recv(10), c)
t('send', lambda: c.send(b'x'), c); t('send', lambda: c.send(b'x'), c); t('recv', lambda: c.recv(10), c); c.close()
print('6b send first')
c = close_wait_then_rst(); t('send', lambda: c.send(b'x'), c); t('send', lambda: c.send(b'x'), c)
t('recv', lambda: c.recv(10), c); c.close()
print('6c SO_ERROR first')
c = close_wait_then_rst(); t('SO_ERROR', lambda: c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), c)
t('send', lambda: c.send(b'x'), c); t('recv', lambda: c.recv(10), c); c.close()
print('6d unread data queued when the RST arrives, recv first')
c = tcp(); c.connect((L4, 5600)); a, _ = L.accept(); a.send(b'data'); a.shutdown(socket.SHUT_WR); time.sleep(0.05)
a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); a.close(); time.sleep(0.05)
t('recv', lambda: c.recv(10), c); t('recv', lambda: c.recv(10), c); t('send', lambda: c.send(b'x'), c); c.close()
print('6e RST provoked by our own send in CLOSE_WAIT (peer fully closed: data after close)')
c = tcp(); c.connect((L4, 5600)); a, _ = L.accept(); a.close(); time.sleep(0.05)
t('state after peer close()', lambda: None, c)
t('send (peer answers RST)', lambda: c.send(b'x'), c); time.sleep(0.05)
t('recv', lambda: c.recv(10), c); t('send', lambda: c.send(b'x'), c); t('send', lambda: c.send(b'x'), c); c.close()
