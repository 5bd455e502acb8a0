"""K. An accepted socket, disconnected with AF_UNSPEC, may connect but not listen (Linux 6.18: it counts as once connected)."""
import socket, ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
def unspec(s):
    rc = libc.connect(s.fileno(), ctypes.create_string_buffer(16), 16)
    return rc, ctypes.get_errno()
L = socket.socket(); L.bind(("127.0.0.1", 0)); L.listen(4)
L2 = socket.socket(); L2.bind(("127.0.0.1", 0)); L2.listen(4)
c = socket.socket(); c.connect(L.getsockname())
a, _ = L.accept()
print("unspec", unspec(a))
time.sleep(0.05)
try:
    a.connect(L2.getsockname()); print("connect ok")
except OSError as e: print("connect", e)
c2 = socket.socket(); c2.connect(L.getsockname()); a2, _ = L.accept()
print("unspec", unspec(a2))
try:
    a2.listen(1); print("listen ok")
except OSError as e: print("listen", e)
