#!/bin/sh
# Run every v2 measurement script, each in a fresh network namespace with only loopback (v4 + ::1) up.
# Usage: sh run_v2.sh [script.py ...] > results-$(uname -r | cut -d. -f1,2).txt   (needs root for unshare -n)
cd "$(dirname "$0")"
PY=${PY:-python3}
[ $# -eq 0 ] && set -- a_poll.py b_soerror.py c_names.py d_ioctl.py e_unspec.py f_reuse.py g_sockopt.py h_ipv6.py i_recvflags.py j_eintr.py
echo "kernel: $(uname -r)"
for f in "$@"; do
  echo "== $f"
  timeout 90 unshare -n sh -c "ip link set lo up; ip addr add ::1/128 dev lo 2>/dev/null; $PY $f" 2>&1
  echo "   (exit $?)"
done
