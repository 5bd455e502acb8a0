#!/bin/sh
# Run every reproducer, each in a fresh network namespace with only loopback up.
# Usage: sh run_all.sh [script.py ...]     (inside UML, set NO_UNSHARE=1: the VM is its own namespace)
cd "$(dirname "$0")"
PY=${PY:-/usr/bin/python3}
[ $# -eq 0 ] && set -- i[0-9]*.py
echo "kernel: $(uname -r)"
for f in "$@"; do
  echo "== $f"
  if [ -n "$NO_UNSHARE" ]; then timeout 60 $PY "$f"
  else timeout 60 unshare -n sh -c "ip link set lo up; $PY $f"; fi
done
