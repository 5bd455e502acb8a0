"""11. Simultaneous open puts an active opener B in SYN_RECV; a RST then arrives there.
   Needs a packet filter (nft, or iptables-legacy; inside this namespace only) to hold B's segments back."""
from tc import *
import select, time
PA, PB = 6101, 6102

def to_syn_recv():
    hold_back(PB, True, 'k11')                 # B's SYN and SYN-ACK never leave
    A = tcp(); A.bind((L4, PA)); B = tcp(); B.bind((L4, PB))
    B.setblocking(False); t('B connect(A) nb', lambda: B.connect((L4, PA)), B)       # B: SYN_SENT
    A.setblocking(False); t('A connect(B) nb', lambda: A.connect((L4, PB)), A)       # A's SYN reaches B
    time.sleep(0.1); t('B state (simultaneous open)', lambda: None, B)
    A.close()                           # A vanishes without a RST (closing in SYN_SENT sends none)
    hold_back(PB, False, 'k11')                # B's retransmitted SYN-ACK now reaches a closed port -> RST back to B
    return B

print('11a second connect() (blocking, bounded) collects the error')
B = to_syn_recv(); B.setblocking(True); bounded(B, 8)
t('B connect(A) again', lambda: B.connect((L4, PA)), B)
t('B SO_ERROR', lambda: B.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), B); t('B recv', lambda: B.recv(10), B)
t('B listen', lambda: B.listen(1), B); B.close()
print('11b wait for the RST with poll, then recv first')
B = to_syn_recv(); select.select([B], [B], [], 8)
t('B recv', lambda: B.recv(10), B); t('B send', lambda: B.send(b'x'), B)
t('B connect(A) again', lambda: B.connect((L4, PA)), B); B.close()
