#!/bin/bash
# Runs inside the VM test's guest, chrooted into the host's root (read-only
# over virtio-9p). Prints "@@ ..." lines for the host; "@@WAIT tag" waits for
# the host to do its part (it then writes a line to the serial console).
#   guest.sh MODE DIR   MODE: full (82540EM, UIO, everything) | vfio | em (82545EM, UIO)
#                       | virtio* (guest-virtio.sh) | shards-virtio (guest-shards.sh)
set -u
mode=$1
dir=$2
cd "$dir"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
U=(node "$dir/bin/ustack.js")
source "$dir/test/vm/guest-lib.sh"

if [ "$mode" = debug ]; then bash "$dir/.cache/vm/debug.sh"; exit 0; fi
# The virtio-net scenarios have their own script.
case "$mode" in virtio*) exec bash "$dir/test/vm/guest-virtio.sh" "$mode" "$dir" ;; esac
# One NIC, many workers on virtio-net: its own script too.
case "$mode" in shards-*) exec bash "$dir/test/vm/guest-shards.sh" "$mode" "$dir" ;; esac
# The accounting of the 10 MB echo (USTACK_VM_SCENARIOS=account) has its own too.
if [ "$mode" = account ]; then exec bash "$dir/test/vm/guest-account.sh" "$dir"; fi
pci=""
for d in /sys/bus/pci/devices/*; do
  id="$(cat "$d/vendor"):$(cat "$d/device")"
  case "$id" in 0x8086:0x100e|0x8086:0x100f) [ -z "$pci" ] && pci=${d##*/};; esac
done
if [ -z "$pci" ]; then say "FAIL no 8254x found"; exit 1; fi
say "nic $pci mode $mode"

access=--uio; query=""
if [ "$mode" = vfio ]; then access=--vfio; query="?access=vfio"; fi
# ustack.tso=off on the kernel command line (USTACK_VM_TSO=off on the host): no TSO.
if grep -q 'ustack\.tso=off' /proc/cmdline; then query="${query:+$query&}tso=off"; query="?${query#\?}"; fi
NIC="e1000:$pci$query"
ADDR=$(sed -n 's/.*ustack\.addr=\([^ ]*\).*/\1/p' /proc/cmdline); ADDR=${ADDR:-10.0.2.15/24}
GW=$(sed -n 's/.*ustack\.gw=\([^ ]*\).*/\1/p' /proc/cmdline); GW=${GW:-10.0.2.2}

check devices "${U[@]}" devices
# Error cases once (each node start costs seconds under TCG).
if [ "$mode" = full ]; then
  expect_fail "error: device in use by the kernel driver" "in use by the kernel driver" "${U[@]}" echo --nic "$NIC" --address $ADDR
  expect_fail "error: no such device" "no PCI device" "${U[@]}" bind 0000:00:1f.7
  expect_fail "error: unsupported device id" "not a NIC ustack drives" "${U[@]}" bind "$(basename "$(ls -d /sys/bus/pci/devices/*:00.0 | head -1)")"
fi
if [ "$mode" = vfio ]; then
  # An 8254x whose IOMMU group it shares with another device on a kernel driver.
  other=""; grp=""
  for d in /sys/bus/pci/devices/*; do
    a=${d##*/}; [ "$a" = "$pci" ] && continue
    case "$(cat "$d/vendor"):$(cat "$d/device")" in 0x8086:0x100e|0x8086:0x100f) ;; *) continue;; esac
    g=$(basename "$(readlink "$d/iommu_group")")
    if [ "$(ls /sys/kernel/iommu_groups/$g/devices | wc -l)" -gt 1 ]; then other=$a; grp=$g; break; fi
  done
  if [ -n "$other" ]; then
    say "IOMMU group $grp: $(for m in /sys/kernel/iommu_groups/$grp/devices/*; do printf '%s(%s) ' "${m##*/}" "$(basename "$(readlink "$m/driver" 2>/dev/null)" 2>/dev/null)"; done)"
    expect_fail "error: IOMMU group not viable" "is not viable" "${U[@]}" bind "$other" --vfio
    drv=$(basename "$(readlink "/sys/bus/pci/devices/$other/driver" 2>/dev/null)" 2>/dev/null)
    if [ "$drv" != vfio-pci ] && [ -n "$drv" ]; then say "PASS the refused device kept its kernel driver ($drv)"; else say "FAIL the refused device is on '${drv:-no driver}'"; fi
  else
    say "FAIL no 8254x found sharing an IOMMU group (the bridge topology did not group them)"
  fi
fi
check "bind $access" "${U[@]}" bind "$pci" $access
check "devices after bind" "${U[@]}" devices
if [ "$mode" != vfio ]; then
  check "hugepages (from hugepages= on the kernel command line)" "${U[@]}" hugepages
fi
if [ "$mode" = full ]; then
  "${U[@]}" hugepages 0 >/dev/null
  expect_fail "error: no hugepages" "huge pages" "${U[@]}" echo --nic "$NIC" --address $ADDR
  check "hugepages 64" "${U[@]}" hugepages 64
fi
if [ "$mode" = full ] && command -v setpriv >/dev/null; then
  expect_fail "error: no permission" "no permission" setpriv --reuid=65534 --regid=65534 --clear-groups "${U[@]}" echo --nic "$NIC" --address $ADDR
fi
check "MII loopback self-test" "${U[@]}" selftest "$pci" $access
check "ping the gateway from the guest" "${U[@]}" ping --nic "$NIC" --address $ADDR --gateway $GW -c 3 $GW
if [ "$mode" = full ]; then
  # Bad input from JavaScript against the real device (readReg bounds, a
  # second open, slots the caller does not own, oversized frames, a
  # scribbled free stack), then frames through MII loopback.
  node "$dir/test/vm/native-checks.mjs" "$pci" uio </dev/null 2>&1; rc=$?
  if [ $rc -ne 0 ]; then say "FAIL native checks (exit $rc)"; fi
  # Lifetimes at the N-API boundary: workers leave the main thread's device
  # running, a detached free stack stops DMA, the pool outlives close().
  node --expose-gc "$dir/test/vm/addon-lifetime.mjs" "$pci" uio </dev/null 2>&1; rc=$?
  if [ $rc -ne 0 ]; then say "FAIL addon lifetime checks (exit $rc)"; fi
fi
if [ "$mode" = em ]; then
  # address 'dhcp': a lease from QEMU's built-in DHCP server (slirp), then the gateway it named.
  out=$("${U[@]}" ping --nic "$NIC" --address dhcp -c 2 $GW 2>&1); rc=$?
  printf '%s\n' "$out" | sed 's/^/   | /'
  if [ $rc -eq 0 ] && printf '%s' "$out" | grep -q "dhcp: leased 10.0.2.15/24, gateway $GW"; then say "PASS DHCP lease from QEMU's DHCP server"; else say "FAIL DHCP lease from QEMU's DHCP server"; fi
fi

start_echo && wait_host echo-ready
print_stats
check_dontfork

if [ "$mode" = full ]; then
  # UIO: a second process opening the device is refused before it touches
  # it (the first holds an exclusive lock); the echo keeps serving.
  expect_fail "a second process opening $pci is refused (EBUSY) while ustack echo drives it" "EBUSY.*in use by another process" "${U[@]}" selftest "$pci" $access
  if kill -0 $ECHO 2>/dev/null; then say "PASS ustack echo still running after the refused second open"; else say "FAIL ustack echo died"; fi
  wait_host echo-after-second-open
fi

if [ "$mode" = full ]; then
  # Idle: the poll loop sleeps on the device interrupt (UIO fd) instead of spinning.
  c0=$(awk '{print $14+$15}' /proc/$ECHO/stat); sleep 5; c1=$(awk '{print $14+$15}' /proc/$ECHO/stat)
  say "idle: ustack echo used $((c1 - c0)) CPU ticks in 5 s (CLK_TCK $(getconf CLK_TCK))"
  wait_host echo-after-idle
  wait_host kill-mid
  kill -KILL $ECHO; wait $ECHO 2>/dev/null
  say "killed ustack echo (SIGKILL) mid-transfer"
  start_echo && wait_host echo-ready-after-kill
  wait_host timed-ustack
  stop_echo

  # strace around a 10 MB echo. The server has answered a 20 MB echo
  # before strace attaches (JIT warm-up: TCG makes V8's tiers slow to settle), and runs as a dedicated busy-polling
  # process would: --poll busy, and node --single-threaded (V8's background
  # GC and compiler threads otherwise wake each other with futexes).
  ECHO_NODE_FLAGS=--single-threaded start_echo --poll busy
  wait_host warm-up
  print_stats
  tids=()
  for t in /proc/$ECHO/task/*; do tids+=(-p "${t##*/}"); done
  strace -f -qq -o /tmp/strace.log "${tids[@]}" 2>/dev/null &
  ST=$!
  sleep 2
  wait_host strace-ready
  kill -INT $ST; wait $ST 2>/dev/null
  print_stats
  echo "@@STRACE-BEGIN"
  sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' /tmp/strace.log | sort | uniq -c | sort -rn
  echo "@@STRACE-END"
  # Every read/write-family call, and what its fd is.
  io='^[0-9]+ +(read|readv|pread64|preadv|preadv2|write|writev|pwrite64|pwritev|pwritev2|send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg)\('
  grep -E "$io" /tmp/strace.log | head -20 | sed 's/^/   | /'
  grep -E "$io" /tmp/strace.log | sed -nE 's/^[0-9]+ +[a-z0-9_]+\(([0-9]+),.*/\1/p' | sort -u | while read -r fd; do
    echo "@@FD $fd $(readlink /proc/$ECHO/fd/$fd)"
  done
  stop_echo

  # The same echo through the guest kernel's own e1000 driver and node:net.
  check "unbind (back to the kernel's e1000)" "${U[@]}" unbind "$pci"
  ifc=$(ls /sys/bus/pci/devices/$pci/net 2>/dev/null | head -1)
  if [ -z "$ifc" ]; then say "FAIL kernel e1000 did not take the device back"; else
    ip link set "$ifc" up; ip addr add $ADDR dev "$ifc"; ip route add default via $GW 2>/dev/null
    node "$dir/test/vm/node-echo.mjs" 7 </dev/null >/tmp/node-echo.out 2>&1 &
    NE=$!
    for _ in $(seq 1 300); do grep -q listening /tmp/node-echo.out && break; sleep 0.1; done
    sleep 2
    wait_host kernel-ready
    kill $NE; wait $NE 2>/dev/null
  fi
else
  stop_echo
  check "unbind" "${U[@]}" unbind "$pci"
fi
check "devices at the end" "${U[@]}" devices
say "DONE"
