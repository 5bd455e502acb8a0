"""Every bound of the composed system the proofs are about, in one place.

The rules (tcpconform.model.rules) have no bounds; the composition in
:mod:`tcpconform.properties.compose` reads only these.  Each line says why the number
is enough, or what it leaves out.
"""

PROFILE = "linux"
# The issue asks for Linux; POSIX only widens the error sets.

CLIENTS = 2
# Two client sockets: the least that makes two connections compete for one
# accept queue (the minimum).  Each client connects to the listener's
# port only (the one fixed address of this topology).

QUEUE_CAPACITIES = (1, 2)
# listen() picks the capacity nondeterministically at each call: backlog 0
# gives capacity 1 (rules.accept_queue_capacity), backlog 1 gives 2.  With two
# clients, capacity 2 never fills and capacity 1 exercises the full-queue
# rules (listen.syn.full, req.full, synack_giveup); larger capacities behave as 2.

CHANNEL_CAPACITY = 2
# Each direction of each client/server pair is a FIFO of at most two
# segments.  A segment pushed onto a full channel is lost, which the lossy
# network allows anyway, so the cap removes no behaviour that loss does not
# already reach; it bounds how many segments are in flight at once.

SERVER_SLOTS_PER_CLIENT = 1
# One server-side socket (request sock, queued child, accepted socket) per
# client.  A new connection from the same client reuses the slot once the old
# server-side socket is CLOSED (the old socket leaves the model): calls on a
# dead accepted socket after its client reconnected are not explored.

PORTS = ("P", "X")
# Local ports, abstracted to two values: P, the port every client connects to
# (the one server address of this topology), and X, any other.  bind() and
# autobind (listen/connect on an unbound socket) pick either: the kernel or
# the application may choose the clients' port or not, and which other port
# it is never matters (a listener on any port but P receives nothing, and
# segments to a port nobody listens on are answered by RST alike).  The IP
# address is left out: every socket here uses 127.0.0.1 (the recorder refuses
# any other), so "the same local address" is the same port; a listener bound
# to the wildcard 0.0.0.0 matches it too, and its accepted socket then shows
# 127.0.0.1, the address the client asked for (tcpconform.model.system keeps that detail).

BMC_DEPTH = 10
# Witness search depth for vacuity checks and counterexamples: the longest
# premise (a socket entering TIME_WAIT: listen, connect, the handshake's three
# segments, two FINs and their answers) takes exactly 10 steps; the longest
# mutant counterexample (a recv returning more than was sent) takes 9.
