#!/bin/sh
# Boot Debian's user-mode-linux 6.1 with the host root read-only and run the reproducers.
# Usage: sh boot.sh [i01_x.py ...]   (default: all). Output: the guest console on stdout.
HERE=$(cd "$(dirname "$0")" && pwd)
[ -f "$HERE/xstate_shim.so" ] || gcc -O2 -shared -fPIC -o "$HERE/xstate_shim.so" "$HERE/xstate_shim.c" -ldl
export TMPDIR=${TMPDIR:-/tmp}
LD_PRELOAD="$HERE/xstate_shim.so" timeout 600 linux mem=384M root=/dev/root rootfstype=hostfs rootflags=/ ro \
  init="$HERE/init.sh" REPRO="$(echo "$*" | tr " " ,)" con0=null,fd:1 con=null quiet 2>&1 | sed -n '/^kernel:/,$p'
