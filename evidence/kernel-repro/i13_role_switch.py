"""13 (found while doing 1 and 3). Can one socket change role after a failed or aborted attempt?
   connector -> listener, and listener -> connector; IPv4 and IPv6; plus controls that keep the role."""
from tc import *
import time
for fam, host in ((socket.AF_INET, L4), (socket.AF_INET6, '::1')):
    fname = 'v4' if fam == socket.AF_INET else 'v6'
    LIVE = listener(6300, host=host, family=fam)
    print(f'13a [{fname}] connector -> listener: refused connect, then listen')
    s = tcp(fam); t('connect(dead)', lambda: s.connect((host, 9)), s); t('listen', lambda: s.listen(1), s)
    t('connect(live) instead', lambda: s.connect((host, 6300)), s); s.close()
    print(f'13b [{fname}] control: connect that fails before SYN (unreachable), then listen')
    s = tcp(fam); t('connect(unroutable)', lambda: s.connect(('10.9.9.9', 80) if fam == socket.AF_INET else ('2001:db8::1', 80)), s)
    t('listen', lambda: s.listen(1), s); s.close()
    print(f'13c [{fname}] listener -> connector: listen, shutdown(SHUT_RD), connect')
    s = tcp(fam); s.listen(1); t('shutdown(SHUT_RD)', lambda: s.shutdown(socket.SHUT_RD), s)
    t('connect(live)', lambda: s.connect((host, 6300)), s); t('listen again', lambda: s.listen(1), s); s.close()
    print(f'13d [{fname}] control: listener -> shutdown -> listen -> accept works')
    s = tcp(fam); s.bind((host, 6301)); s.listen(1); s.shutdown(socket.SHUT_RD); t('listen again', lambda: s.listen(1), s)
    c = tcp(fam); c.connect((host, 6301)); t('accept', lambda: s.accept()[1][:2], s); s.close(); c.close()
    LIVE.close()
