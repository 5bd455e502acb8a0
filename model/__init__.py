"""The TCP model: rules written once as data (model.rules), read by an
executable semantics (model.semantics, model.system) and a z3 encoding
(model.z3enc).  Importing the package validates the rule table."""

from . import selfcheck as _selfcheck

_selfcheck.validate_static()
