"""Shared helpers for the v2 kernel reproducers (stdlib socket/select/fcntl/struct only).
Every blocking call is bounded: sockets are blocking at kernel level with SO_RCVTIMEO/SO_SNDTIMEO
(Python's settimeout() would set O_NONBLOCK, which would distort the measurements)."""
import errno, socket, select, struct, subprocess, time

ST = {1: 'ESTABLISHED', 2: 'SYN_SENT', 3: 'SYN_RECV', 4: 'FIN_WAIT1', 5: 'FIN_WAIT2', 6: 'TIME_WAIT',
      7: 'CLOSE', 8: 'CLOSE_WAIT', 9: 'LAST_ACK', 10: 'LISTEN', 11: 'CLOSING', 12: 'NEW_SYN_RECV'}
L4 = '127.0.0.1'
POLLRDHUP = 0x2000
PBITS = [(0x1, 'IN'), (0x2, 'PRI'), (0x4, 'OUT'), (0x8, 'ERR'), (0x10, 'HUP'), (0x20, 'NVAL'),
         (0x40, 'RDNORM'), (0x80, 'RDBAND'), (0x100, 'WRNORM'), (0x200, 'WRBAND'), (0x400, 'MSG'),
         (0x2000, 'RDHUP')]
EVMASK = select.POLLIN | select.POLLPRI | select.POLLOUT | POLLRDHUP | select.POLLERR | select.POLLHUP
_all = []          # every socket we create, closed at exit


def ename(e):
    return errno.errorcode.get(e, str(e))


def st(s):
    try:
        return ST.get(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0])
    except OSError as e:
        return 'TCP_INFO:' + ename(e.errno)


def names(m):
    return '|'.join(n for b, n in PBITS if m & b) or '0'


def pollmask(fd, ev=EVMASK):
    p = select.poll()
    p.register(fd, ev)
    r = p.poll(0)
    return r[0][1] if r else 0


def pm(s):
    """'0x.. NAMES' for the brief's event set, plus all bits (0xffff) in brackets."""
    fd = s if isinstance(s, int) else s.fileno()
    m = pollmask(fd)
    a = pollmask(fd, 0xffff)
    return f'0x{m:04x} {names(m)}  [all-bits 0x{a:04x} {names(a)}]'


def call(fn):
    try:
        r = fn()
        return 'ok' if r is None else repr(r)
    except OSError as e:
        return ename(e.errno)


def t(label, fn, s=None):
    r = call(fn)
    print(f'  {label:<52} -> {r:<34}' + (f' state={st(s)}' if s is not None else ''), flush=True)
    return r


def note(label, val):
    print(f'  {label:<52} -> {val}', flush=True)


def bounded(s, secs=2):
    s.setblocking(True)
    tv = struct.pack('ll', secs, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    return s


def tcp(family=socket.AF_INET, timeo=True):
    s = socket.socket(family, socket.SOCK_STREAM)
    _all.append(s)
    return bounded(s) if timeo else s


def listener(port=0, backlog=8, host=L4, family=socket.AF_INET, reuse=True):
    s = tcp(family)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def accept(l):
    c, _ = l.accept()
    _all.append(c)
    return bounded(c)


def pair(port=0, host=L4, family=socket.AF_INET):
    """(client, accepted server child, listener) - ESTABLISHED both ends."""
    l = listener(port, host=host, family=family)
    c = tcp(family)
    c.connect(l.getsockname()[:2])
    a = accept(l)
    return c, a, l


def syn_sent(family=socket.AF_INET):
    """Return (client in SYN_SENT, listener, filler sockets).  Listener with backlog 0 whose accept
    queue already holds one connection: tcp_conn_request drops the next SYN (sk_acceptq_is_full)."""
    l = listener(0, backlog=0, host=L4 if family == socket.AF_INET else '::1', family=family)
    f = tcp(family)
    f.connect(l.getsockname()[:2])
    time.sleep(0.05)
    c = tcp(family)
    c.setblocking(False)
    r = c.connect_ex(l.getsockname()[:2])
    time.sleep(0.05)
    assert r == errno.EINPROGRESS and st(c) == 'SYN_SENT', (r, st(c))
    return c, l, f


def dead_port():
    """A port with no listener (bound, not listening -> connect gets RST)."""
    s = tcp()
    s.bind((L4, 0))
    return s, s.getsockname()[1]


def refused(nonblock=True, bindport=None):
    s = tcp()
    if bindport is not None:
        s.bind((L4, bindport))
    h, p = dead_port()
    if nonblock:
        s.setblocking(False)
        r = s.connect_ex((L4, p))
        time.sleep(0.05)
    else:
        r = s.connect_ex((L4, p))
    return s, r


def rst_pair(unread_on_client=b'', explicit_port=None):
    """Client ESTABLISHED; server child closes with SO_LINGER {1,0} -> RST to client."""
    l = listener()
    c = tcp()
    if explicit_port is not None:
        c.bind((L4, explicit_port))
    c.connect(l.getsockname())
    a = accept(l)
    if unread_on_client:
        a.sendall(unread_on_client)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    time.sleep(0.05)
    a.close()
    time.sleep(0.05)
    return c, l


def ss(filt=''):
    out = subprocess.run(['ss', '-tanH'] + (filt.split() if filt else []), capture_output=True, text=True).stdout
    return [' '.join(x.split()) for x in out.strip().splitlines()]


def closeall():
    for s in _all:
        try:
            s.close()
        except OSError:
            pass
    _all.clear()


def section(title):
    print(f'\n{title}', flush=True)
