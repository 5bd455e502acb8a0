"""F. SO_REUSEADDR / SO_REUSEPORT bind conflicts (inet_csk_get_port -> inet_csk_bind_conflict / inet_bind_conflict;
TIME_WAIT 4-tuple reuse on connect: __inet_check_established -> tcp_twsk_unique)."""
import socket, struct, time
from common import *

RA, RP = socket.SO_REUSEADDR, socket.SO_REUSEPORT


def sk(reuse=False, reuseport=False, family=socket.AF_INET):
    s = tcp(family)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, RA, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, RP, 1)
    return s


def abort(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()


def server_tw(P, lreuse):
    """Listener on P (SO_REUSEADDR=lreuse); accepted child closes first -> child's TIME_WAIT on P; listener closed."""
    l = sk(lreuse); l.bind((L4, P)); l.listen(4)
    c = tcp(); c.connect((L4, P)); a = accept(l)
    a.close(); time.sleep(0.05); c.recv(1); c.close(); time.sleep(0.05)
    l.close()
    print(f'  setup: listener reuse={int(lreuse)}, child active-closed, listener closed; ss: {ss(f"sport = :{P}")}')


section('F1 server child in TIME_WAIT, listener had SO_REUSEADDR')
server_tw(5001, True)
s = sk(False); t('new socket WITHOUT reuse: bind 127.0.0.1:P', lambda: s.bind((L4, 5001)), s); s.close()
s = sk(False); t('new socket WITHOUT reuse: bind 0.0.0.0:P', lambda: s.bind(('0.0.0.0', 5001)), s); s.close()
s = sk(True); t('new socket with reuse: bind 127.0.0.1:P', lambda: s.bind((L4, 5001)), s)
t('  ... listen', lambda: s.listen(4), s)
c = tcp(); t('  ... a client connects to P', lambda: c.connect((L4, 5001)), c); s.close(); abort(c)

section('F2 server child in TIME_WAIT, listener had NO SO_REUSEADDR')
server_tw(5002, False)
s = sk(True)
if t('new socket with reuse: bind 127.0.0.1:P', lambda: s.bind((L4, 5002)), s) == 'ok':
    t('  ... listen', lambda: s.listen(4), s)
s.close()
s = sk(False); t('new socket WITHOUT reuse: bind 127.0.0.1:P', lambda: s.bind((L4, 5002)), s); s.close()

def f3(P, creuse, ts=1):
    section(f'F3 client bound to :{P} (client SO_REUSEADDR={int(creuse)}, tcp_timestamps={ts}) is active closer -> TIME_WAIT on {P}')
    open('/proc/sys/net/ipv4/tcp_timestamps', 'w').write(str(ts))
    l = listener(6000 + P % 100); l2 = listener(7000 + P % 100)
    c = sk(creuse); c.bind((L4, P)); c.connect(l.getsockname()); a = accept(l)
    c.shutdown(socket.SHUT_WR); time.sleep(0.05); a.recv(1); a.close(); time.sleep(0.05); c.close()
    print('  ss:', ss(f'sport = :{P}'))
    s = sk(False); t('new socket WITHOUT reuse: bind P', lambda: s.bind((L4, P)), s); s.close()
    s = sk(True)
    if t('new socket with reuse: bind P', lambda: s.bind((L4, P)), s) == 'ok':
        t('  ... connect(same server addr) immediately', lambda: s.connect(l.getsockname()), s)
        print('  ss:', ss(f'sport = :{P}'))
        s.close()
        s = sk(True); s.bind((L4, P))
        if t('  ... (new) connect(different server port)', lambda: s.connect(l2.getsockname()), s) == 'ok':
            a2 = accept(l2); abort(a2); time.sleep(0.02)
        s.close()
    s = tcp(); t('unbound socket: connect(same server) (autobind)', lambda: s.connect(l.getsockname()), s)
    note('  ... its port', s.getsockname()[1]); abort(s)
    print('  ss:', ss(f'sport = :{P}'))
    open('/proc/sys/net/ipv4/tcp_timestamps', 'w').write('1')
    closeall()


f3(5003, True)
f3(5004, False)
f3(5012, True, ts=0)
# does the autobind path (twp != NULL -> tcp_tw_reuse=2 + 1000 ms delay) reuse a client TIME_WAIT 4-tuple?
section('F3d autobind connect reusing a TIME_WAIT 4-tuple: restrict ip_local_port_range to one port')
open('/proc/sys/net/ipv4/ip_local_port_range', 'w').write('5013 5013')
l = listener(6013)
c = tcp(); c.connect(l.getsockname()); a = accept(l); note('first client port', c.getsockname()[1])
c.shutdown(socket.SHUT_WR); time.sleep(0.05); a.recv(1); a.close(); time.sleep(0.05); c.close()
print('  ss:', ss('sport = :5013'))
s = tcp(); t('autobind connect(same server) immediately', lambda: s.connect(l.getsockname()), s); s.close()
time.sleep(1.1)
s = tcp(); t('autobind connect(same server) after 1.1 s', lambda: s.connect(l.getsockname()), s)
print('  ss:', ss('sport = :5013')); abort(s)
open('/proc/sys/net/ipv4/ip_local_port_range', 'w').write('32768 60999')
closeall()

section('F4 two SO_REUSEADDR sockets bind the same 127.0.0.1:P (no listen)')
s1 = sk(True); s2 = sk(True)
t('s1 bind', lambda: s1.bind((L4, 5005)), s1); t('s2 bind', lambda: s2.bind((L4, 5005)), s2)
t('s1 listen', lambda: s1.listen(4), s1); t('s2 listen', lambda: s2.listen(4), s2)
s3 = sk(True); t('s3 (reuse) bind same while s1 listens', lambda: s3.bind((L4, 5005)), s3)
s4 = sk(False); s4b = sk(False)
t('no-reuse s4 bind 5006', lambda: s4.bind((L4, 5006)), s4); t('no-reuse s4b bind 5006', lambda: s4b.bind((L4, 5006)), s4b)
s5 = sk(True); s6 = sk(False)
t('reuse s5 bind 5007', lambda: s5.bind((L4, 5007)), s5); t('no-reuse s6 bind 5007', lambda: s6.bind((L4, 5007)), s6)
closeall()

section('F5 listener with SO_REUSEADDR on P; another SO_REUSEADDR socket binds P')
l = sk(True); l.bind((L4, 5008)); l.listen(4)
s = sk(True); t('bind 127.0.0.1:P', lambda: s.bind((L4, 5008)), s)
s = sk(True); t('bind 0.0.0.0:P', lambda: s.bind(('0.0.0.0', 5008)), s)
closeall()

section('F6 SO_REUSEPORT')
a1 = sk(reuseport=True); a2 = sk(reuseport=True)
t('r1 bind+listen', lambda: (a1.bind((L4, 5009)), a1.listen(16))[1], a1)
t('r2 bind+listen', lambda: (a2.bind((L4, 5009)), a2.listen(16))[1], a2)
cs = []
for i in range(20):
    c = tcp(); c.connect((L4, 5009)); cs.append(c)
time.sleep(0.05)
cnt = []
for l in (a1, a2):
    l.setblocking(False); n = 0
    try:
        while True:
            x, _ = l.accept(); x.close(); n += 1
    except BlockingIOError:
        pass
    cnt.append(n)
note('20 connections: accepted by r1 / r2', cnt)
s = sk(False); t('third socket without REUSEPORT: bind P', lambda: s.bind((L4, 5009)), s)
s = sk(True); t('third socket with SO_REUSEADDR only: bind P', lambda: s.bind((L4, 5009)), s)
s = sk(reuseport=True); t('third socket with REUSEPORT: bind P (no listen)', lambda: s.bind((L4, 5009)), s)
b1 = sk(reuseport=True); b2 = sk(reuseport=True)
t('REUSEPORT x2, bind only (5010) #1', lambda: b1.bind((L4, 5010)), b1); t('#2', lambda: b2.bind((L4, 5010)), b2)
b3 = sk(False); b3.bind((L4, 5011)); b3.listen(4)
b4 = sk(reuseport=True); t('listener w/o REUSEPORT on 5011; REUSEPORT socket binds', lambda: b4.bind((L4, 5011)), b4)
closeall()

section('F7 0.0.0.0:P vs 127.0.0.1:P')
P = 5020
for first, second in (('0.0.0.0', L4), (L4, '0.0.0.0')):
    for r1, r2 in ((0, 0), (1, 0), (0, 1), (1, 1)):
        for lst in (0, 1):
            P += 1
            s1 = sk(bool(r1)); s1.bind((first, P))
            if lst:
                s1.listen(4)
            s2 = sk(bool(r2))
            r = call(lambda: s2.bind((second, P)))
            r3 = call(lambda: s2.listen(4)) if r == 'ok' else '-'
            print(f'  first {first}:P reuse={r1} {"LISTEN" if lst else "bound "} | second {second}:P reuse={r2}: bind -> {r:<11} then listen -> {r3}', flush=True)
            s1.close(); s2.close()
closeall()
