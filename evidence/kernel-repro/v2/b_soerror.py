"""B. SO_ERROR (sock_getsockopt -> sock_error() xchg's sk_err to 0) and SO_ACCEPTCONN."""
import socket, time
from common import *

SOE = lambda s: (lambda: ename(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)))
ACC = lambda s: (lambda: s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))

section('B1 refused non-blocking connect')
c, r = refused(); note('connect_ex', ename(r))
t('SO_ERROR #1', SOE(c), c); t('SO_ERROR #2', SOE(c), c)
t('recv(10) after SO_ERROR read', lambda: c.recv(10), c)
t('send after SO_ERROR read', lambda: c.send(b'x'), c)

section('B1b refused non-blocking connect, recv before SO_ERROR')
c, r = refused()
t('recv(10)', lambda: c.recv(10), c); t('SO_ERROR', SOE(c), c)

section('B1c refused blocking connect')
c, r = refused(nonblock=False); note('connect_ex (blocking)', ename(r)); t('SO_ERROR after', SOE(c), c)

section('B2 peer RST on ESTABLISHED')
c, l = rst_pair()
t('SO_ERROR #1', SOE(c), c); t('SO_ERROR #2', SOE(c), c)
t('recv(10) after SO_ERROR read', lambda: c.recv(10), c)
t('send after SO_ERROR read', lambda: c.send(b'x'), c)
c, l = rst_pair()
t('(fresh copy) recv(10) first', lambda: c.recv(10), c); t('SO_ERROR after recv', SOE(c), c)
c, l = rst_pair()
t('(fresh copy) send first', lambda: c.send(b'x'), c); t('send again', lambda: c.send(b'x'), c)
t('recv', lambda: c.recv(10), c)

section('B3 SO_ACCEPTCONN')
s = tcp(); t('fresh', ACC(s), s)
s.bind((L4, 0)); t('bound', ACC(s), s)
l = listener(); t('listener', ACC(l), l)
c, a, l2 = pair(); t('connected client', ACC(c), c); t('accepted child', ACC(a), a)
l.shutdown(socket.SHUT_RD); t('ex-listener after shutdown(SHUT_RD)', ACC(l), l)
closeall()
