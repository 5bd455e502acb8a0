"""14. An active opener B in SYN_RECV (simultaneous open, its own segments held back) is shut down for
   writing: does it go to FIN_WAIT1 at once, or stay in SYN_RECV until its handshake completes?
   Needs a packet filter (nft, or iptables-legacy; inside this namespace only), as item 11."""
from tc import *
import time
PA, PB = 6141, 6142

print('14a shutdown(SHUT_WR) in an active SYN_RECV, then the handshake completes')
hold_back(PB, True, 'k14')                     # B's SYN and SYN-ACK never leave
A = tcp(); A.bind((L4, PA)); B = tcp(); B.bind((L4, PB))
B.setblocking(False); t('B connect(A) nb', lambda: B.connect((L4, PA)), B)       # B: SYN_SENT
A.setblocking(False); t('A connect(B) nb', lambda: A.connect((L4, PB)), A)       # A's SYN reaches B
time.sleep(0.1); t('B state (simultaneous open)', lambda: None, B)
t('B shutdown(SHUT_WR)', lambda: B.shutdown(socket.SHUT_WR), B)
time.sleep(0.1); t('B state 0.1 s later', lambda: None, B)
hold_back(PB, False, 'k14')                    # B's retransmitted SYN-ACK completes A's handshake
for _ in range(40):                     # bounded: at most 4 s
    if st(B) != 'SYN_RECV':
        break
    time.sleep(0.1)
time.sleep(0.2)
t('B state once released', lambda: None, B); t('A state once released', lambda: None, A)
t('A recv', lambda: A.recv(10), A)
A.close(); B.close()
