"""Tiny helpers shared by the reproducers: run a call, print its result or errno name, and sk_state."""
import errno, socket, struct

ST = {1: 'ESTABLISHED', 2: 'SYN_SENT', 3: 'SYN_RECV', 4: 'FIN_WAIT1', 5: 'FIN_WAIT2', 6: 'TIME_WAIT',
      7: 'CLOSE', 8: 'CLOSE_WAIT', 9: 'LAST_ACK', 10: 'LISTEN', 11: 'CLOSING', 12: 'NEW_SYN_RECV'}
L4 = '127.0.0.1'


def st(s):
    """sk_state as TCP_INFO reports it (first byte of struct tcp_info)."""
    return ST.get(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0])


def t(label, fn, s=None):
    """Run fn(), print 'ok'/its value or the errno name, then s's sk_state."""
    try:
        r = fn()
        r = 'ok' if r is None else repr(r)
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e))
    print(f'  {label:<46} -> {r:<30}' + (f' sk_state={st(s)}' if s is not None else ''), flush=True)


def bounded(s, secs=3):
    """Blocking socket whose blocking calls give up after secs (SO_SNDTIMEO bounds connect too)."""
    s.setblocking(True)
    tv = struct.pack('ll', secs, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    return s


def tcp(family=socket.AF_INET):
    return bounded(socket.socket(family, socket.SOCK_STREAM))


def listener(port, backlog=8, host=L4, family=socket.AF_INET):
    s = tcp(family)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def hold_back(port, on, table='k'):
    """Drop our own outgoing segments from `port` (nft; iptables-legacy where nft's ip family is missing)."""
    import subprocess
    nft = [f'add table ip {table}', f'add chain ip {table} out {{ type filter hook output priority 0; }}',
           f'add rule ip {table} out tcp sport {port} drop'] if on else [f'delete table ip {table}']
    if all(subprocess.run(['nft', c], capture_output=True).returncode == 0 for c in nft):
        return
    subprocess.run(['iptables-legacy', '-A' if on else '-D', 'OUTPUT', '-p', 'tcp', '--sport', str(port), '-j', 'DROP'],
                   check=True)
