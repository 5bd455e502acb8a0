"""tcp-conform: a formal model of TCP through the sockets API, and the tools derived from it."""

__version__ = "0.1.0"
