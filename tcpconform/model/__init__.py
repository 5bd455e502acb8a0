"""The TCP model: rules written once as data (tcpconform.model.rules), read by an
executable semantics (tcpconform.model.semantics, tcpconform.model.system) and a z3 encoding
(tcpconform.model.z3enc).  Importing the package validates the rule table."""

from tcpconform.model import selfcheck as _selfcheck

_selfcheck.validate_static()
