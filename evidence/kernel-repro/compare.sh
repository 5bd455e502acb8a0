#!/bin/sh
# Diff two result files (6.18 host run vs 6.1 UML run) with port numbers and timing-dependent lines masked.
norm() { sed -E 's/\r$//; s/[0-9]{4,5}/P/g' "$1" | grep -vE '^kernel:|^Halting|^reboot:|queued [0-9P]+ bytes|A read|TIME_WAIT \(local'; }
diff "$(norm "$1" > /tmp/cmp.a; echo /tmp/cmp.a)" "$(norm "$2" > /tmp/cmp.b; echo /tmp/cmp.b)"; rc=$?; rm -f /tmp/cmp.a /tmp/cmp.b; exit $rc
