#!/bin/bash
# The VM test's "account" scenario (USTACK_VM_SCENARIOS=account; not in the
# default run): the same 10 MB TCP echo from the host through ustack on the
# e1000 and through the guest kernel's e1000 driver + node:net. Each path:
# one server process warmed up (20 MB), then the timed 10 MB echo (the
# figure); a second process started with the accounting on (USTACK_E1000_TIMING=1;
# node --cpu-prof too with USTACK_VM_PROFILE=1 on the host, which slows it),
# warmed up, then the traced 10 MB echo, during which the
# host has QEMU trace the e1000's MMIO accesses and its interrupt line.
# Around the traced echo this script prints the guest's side as
# "@@ACCT PATH PHASE KIND VALUES" lines: CPU time by kind (/proc/stat), the
# server's user/system time, the e1000's interrupts (/proc/interrupts),
# packets (the NIC's hardware counters through ustack's stats; /proc/net/dev
# for the kernel), TCP retransmissions (ustack's stats; /proc/net/snmp),
# ustack's driver counters and time inside its N-API calls; with the profile,
# its summary over the traced echo ("@@PROF" lines, test/vm/cpuprof-summary.mjs).
# test/vm/run.mjs makes the table.
#
# Paths: ustack-busy (node --single-threaded, --poll busy: the configuration
# README documents for a dedicated server), ustack-adaptive (the default
# poll mode), kernel.
set -u
dir=$1
cd "$dir"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
U=(node "$dir/bin/ustack.js")
source "$dir/test/vm/guest-lib.sh"

pci=""
for d in /sys/bus/pci/devices/*; do
  case "$(cat "$d/vendor"):$(cat "$d/device")" in 0x8086:0x100e) [ -z "$pci" ] && pci=${d##*/};; esac
done
if [ -z "$pci" ]; then say "FAIL no 82540EM found"; say "DONE"; exit 1; fi
IRQ=$(cat /sys/bus/pci/devices/$pci/irq)
say "nic $pci irq $IRQ"
echo "@@ACCT-IRQ $IRQ"
echo "@@ACCT-CLK $(getconf CLK_TCK)"
NIC="e1000:$pci"
ADDR=10.0.2.15/24
GW=10.0.2.2
PROF=""
grep -q 'ustack\.prof=1' /proc/cmdline && PROF=1

# snap PATH PHASE PID [IFACE]: the guest's counters at one edge of the traced
# echo, read with bash builtins only (a fork and exec costs tens of
# milliseconds under TCG, inside the window), printed afterwards.
snap() {
  local path=$1 phase=$2 pid=$3 ifc=${4:-}
  local cpu up ps intr=0 nd="" l f
  read -r cpu < /proc/stat
  read -r up _ < /proc/uptime
  read -r -a ps < /proc/$pid/stat
  while read -r -a f; do [ "${f[0]}" = "$IRQ:" ] && intr=${f[1]}; done < /proc/interrupts
  if [ -n "$ifc" ]; then
    while read -r l; do
      [ "${l%%:*}" = "$ifc" ] || continue
      read -r -a f <<< "${l#*:}"
      nd="${f[1]} ${f[9]}"
    done < /proc/net/dev
  fi
  echo "@@ACCT $path $phase stat ${cpu#cpu }"
  echo "@@ACCT $path $phase up $up"
  if [ "$phase" = before ]; then SNAP_FROM=$up; else SNAP_TO=$up; fi
  echo "@@ACCT $path $phase proc ${ps[13]} ${ps[14]}"
  echo "@@ACCT $path $phase intr $intr"
  if [ -n "$ifc" ]; then
    echo "@@ACCT $path $phase netdev $nd"
    # The "Tcp:" values line: InSegs, OutSegs, RetransSegs are the 10th to 12th.
    local hdr=1
    while read -r -a f; do
      [ "${f[0]}" = "Tcp:" ] || continue
      if [ $hdr = 1 ]; then hdr=0; continue; fi
      echo "@@ACCT $path $phase tcpsnmp ${f[10]} ${f[11]} ${f[12]}"
    done < /proc/net/snmp
  fi
}
# nic_snap PATH PHASE: ustack's stats (SIGUSR2), before snap at the start and after it at the end.
nic_snap() {
  kill -USR2 $ECHO; sleep 1
  echo "@@ACCT $1 $2 nic $(tail -1 /tmp/echo.err)"
}
# profile PATH DIR FROM TO: the CPU profile the server wrote at exit, over the traced echo.
profile() {
  local f
  f=$(ls "$2"/*.cpuprofile 2>/dev/null | head -1)
  [ -n "$PROF" ] || return 0
  if [ -z "$f" ]; then say "FAIL $1: no CPU profile written"; return; fi
  node "$dir/test/vm/cpuprof-summary.mjs" "$1" "$f" "$3" "$4"
}

check "bind --uio" "${U[@]}" bind "$pci" --uio
check "hugepages 64" "${U[@]}" hugepages 64

ustack_path() { # ustack_path NAME NODE_FLAGS [echo options...]
  local path=$1 flags=$2; shift 2
  ECHO_NODE_FLAGS=$flags start_echo "$@" || return 1
  wait_host "acct-warm $path"
  wait_host "acct-timed $path"
  wait_host "acct-timed $path"
  wait_host "acct-timed $path"
  stop_echo
  rm -rf /tmp/prof-$path
  USTACK_E1000_TIMING=1 ECHO_NODE_FLAGS="$flags${PROF:+ --cpu-prof --cpu-prof-dir=/tmp/prof-$path}" start_echo "$@" || return 1
  wait_host "acct-warm $path"
  nic_snap "$path" before
  snap "$path" before $ECHO
  wait_host "acct-traced $path"
  snap "$path" after $ECHO
  nic_snap "$path" after
  stop_echo
  profile "$path" /tmp/prof-$path "$SNAP_FROM" "$SNAP_TO"
}
ustack_path ustack-busy --single-threaded --poll busy
ustack_path ustack-adaptive ""

check "unbind (back to the kernel's e1000)" "${U[@]}" unbind "$pci"
ifc=$(ls /sys/bus/pci/devices/$pci/net 2>/dev/null | head -1)
if [ -z "$ifc" ]; then say "FAIL kernel e1000 did not take the device back"; else
  ip link set "$ifc" up; ip addr add $ADDR dev "$ifc"; ip route add default via $GW 2>/dev/null
  node_echo() {
    : > /tmp/node-echo.out
    node "$@" "$dir/test/vm/node-echo.mjs" 7 </dev/null >/tmp/node-echo.out 2>&1 &
    NE=$!
    for _ in $(seq 1 300); do grep -q listening /tmp/node-echo.out && break; sleep 0.1; done
  }
  node_echo
  sleep 2
  wait_host "acct-warm kernel"
  wait_host "acct-timed kernel"
  wait_host "acct-timed kernel"
  wait_host "acct-timed kernel"
  kill $NE; wait $NE 2>/dev/null
  rm -rf /tmp/prof-kernel
  node_echo ${PROF:+--cpu-prof --cpu-prof-dir=/tmp/prof-kernel}
  wait_host "acct-warm kernel"
  snap kernel before $NE "$ifc"
  wait_host "acct-traced kernel"
  snap kernel after $NE "$ifc"
  kill -INT $NE; wait $NE 2>/dev/null
  profile kernel /tmp/prof-kernel "$SNAP_FROM" "$SNAP_TO"
fi
say "DONE"
