"""9. Client binds 127.0.0.1:5901 explicitly, connects to :5900; the server closes first (server side ends in
   TIME_WAIT), the client closes; a new client binds 5901 again (no SO_REUSEADDR) and reconnects to :5900."""
from tc import *
import time
def tw():
    rows = [l.split() for l in open('/proc/net/tcp').read().splitlines()[1:]]
    return [(r[1], r[2]) for r in rows if r[3] == '06']
L = listener(5900)
for round_ in (1, 2):
    print(f'9 round {round_}')
    c = tcp(); t('bind(5901)', lambda: c.bind((L4, 5901)), c); t('connect(5900)', lambda: c.connect((L4, 5900)), c)
    a, _ = L.accept(); a.close(); time.sleep(0.05)      # server closes first -> server FIN_WAIT2, client CLOSE_WAIT
    t('client state', lambda: None, c); c.close(); time.sleep(0.05)   # client LAST_ACK -> CLOSED; server TIME_WAIT
    print(f'  {"TIME_WAIT (local, remote) hex":<46} -> {tw()}')
c = tcp(); t('bind(5901) once more', lambda: c.bind((L4, 5901)), c)
print('9b same, with net.ipv4.tcp_timestamps=0 in this namespace')
open('/proc/sys/net/ipv4/tcp_timestamps', 'w').write('0'); c.close()
L2 = listener(5910)
for round_ in (1, 2):
    c = tcp(); t('bind(5911)', lambda: c.bind((L4, 5911)), c); t('connect(5910)', lambda: c.connect((L4, 5910)), c)
    a, _ = L2.accept(); a.close(); time.sleep(0.05); c.close(); time.sleep(0.05)
print('9c client closes first instead (client TIME_WAIT); original client had SO_REUSEADDR')
L3 = listener(5920)
c = tcp(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); c.bind((L4, 5921)); c.connect((L4, 5920))
a, _ = L3.accept(); c.close(); time.sleep(0.05); a.close(); time.sleep(0.05)
print(f'  {"TIME_WAIT (local, remote) hex":<46} -> {tw()}')
c = tcp(); t('bind(5921) without SO_REUSEADDR', lambda: c.bind((L4, 5921)), c)
c = tcp(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t('bind(5921) with SO_REUSEADDR', lambda: c.bind((L4, 5921)), c)
t('connect(5920): same 4-tuple as our TIME_WAIT', lambda: c.connect((L4, 5920)), c)
print(f'  {"net.ipv4.tcp_tw_reuse":<46} -> {open("/proc/sys/net/ipv4/tcp_tw_reuse").read().strip()}')
