"""10. Both ends shut down for writing "at the same time", but B's FIN is stuck behind data that A's
   zero window will not accept: B goes FIN_WAIT1 -> CLOSING while A goes FIN_WAIT1 -> FIN_WAIT2."""
from tc import *
import time
L = listener(6000)
A = tcp(); A.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # small receive buffer on A
A.connect((L4, 6000)); B, _ = L.accept()
B.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096); B.setblocking(False)
sent = 0
for _ in range(10000):                     # fill A's receive window and B's send queue (bounded)
    try: sent += B.send(b'z' * 1024)
    except BlockingIOError: break
time.sleep(0.1)
print(f'  B queued {sent} bytes; A reads nothing yet')
t('B.shutdown(SHUT_WR)  (FIN queued behind unsent data)', lambda: B.shutdown(socket.SHUT_WR), B)
t('A.shutdown(SHUT_WR)  (A FIN goes out at once)', lambda: A.shutdown(socket.SHUT_WR), A)
time.sleep(0.2)
t('A state', lambda: None, A); t('B state', lambda: None, B)
got = 0
for _ in range(100000):                    # A drains: window opens, B's data and then B's FIN arrive
    d = A.recv(65536)
    if not d: break
    got += len(d)
time.sleep(0.2)
print(f'  A read {got} bytes then EOF')
t('A state (its TIME_WAIT lives in a separate tw sock)', lambda: None, A); t('B state', lambda: None, B)
tw = [l.split()[1:3] for l in open('/proc/net/tcp').read().splitlines()[1:] if l.split()[3] == '06']
print(f'  {"TIME_WAIT entries":<46} -> {len(tw)}')
