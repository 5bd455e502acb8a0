#!/bin/sh
# PID 1 inside the UML guest: mount the basics, run the reproducers, power off.
# Arguments after init= on the kernel command line are not passed; the list comes from $REPRO (env via cmdline).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
ip link set lo up
# Debian ships the UML modules under /usr/lib/uml/modules; point modprobe at them (packet filter for item 11: this UML has nf_tables without the ip family, so iptables-legacy).
mkdir -p /tmp/modroot/lib/modules && ln -s /usr/lib/uml/modules/$(uname -r) /tmp/modroot/lib/modules/$(uname -r)
for m in ipv6 nf_tables ip_tables iptable_filter xt_tcpudp; do modprobe -d /tmp/modroot $m || echo "modprobe $m failed"; done
# glibc must not keep state in AVX-512 registers: the shim restores only the host tracee's live upper state.
export GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD
cd "$(dirname "$0")/.."
sh run_all.sh $(echo "$REPRO" | tr , " ") 2>&1
halt -f
