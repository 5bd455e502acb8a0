"""Checking traces against the model.  Pure: no sockets, netlink, tracefs or subprocesses."""
