#!/bin/bash
# The VM test's guest side for virtio-net (-device virtio-net-pci,
# disable-legacy=on), run by guest.sh for the virtio* modes. Prints "@@ ..."
# lines for the host; "@@WAIT tag" waits for the host's part.
#   guest-virtio.sh MODE DIR
#     virtio       UIO, slirp: errors (kernel driver in use, a non-NIC virtio
#                  device, a legacy-only device, queues beyond the device),
#                  bind, ping, echoes, the interrupt wake-up after idle,
#                  SIGKILL mid-transfer and restart, strace around a 10 MB echo,
#                  the same echo through the guest kernel's virtio_net
#     virtio-vfio  VFIO behind the emulated IOMMU (iommu_platform=on); a device
#                  without it refused; bind, the addon against bad input from
#                  JavaScript and its lifetimes (virtio-checks.mjs), ping, echoes
#     virtio-tap   UIO, -netdev tap with 2 queues, mq=on: ?queues=2, ping of the
#                  host, echoes, TSO to the host kernel, frames on both queues
# The kernel command line names the NICs: ustack.pci (the one under test),
# ustack.pci2 (the one the error cases use).
set -u
mode=$1
dir=$2
cd "$dir"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
U=(node "$dir/bin/ustack.js")
source "$dir/test/vm/guest-lib.sh"

arg() { sed -n "s/.*ustack\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
pci=$(arg pci)
pci2=$(arg pci2)
ADDR=$(arg addr); ADDR=${ADDR:-10.0.2.15/24}
GW=$(arg gw); GW=${GW:-10.0.2.2}
id_of() { echo "$(cat /sys/bus/pci/devices/$1/vendor):$(cat /sys/bus/pci/devices/$1/device)"; }
if [ -z "$pci" ] || [ ! -e "/sys/bus/pci/devices/$pci" ]; then say "FAIL no virtio-net device at '$pci'"; exit 1; fi
say "nic $pci ($(id_of "$pci"), driver $(basename "$(readlink /sys/bus/pci/devices/$pci/driver)")) mode $mode"

access=--uio; query=""
case "$mode" in
  virtio-vfio) access=--vfio; query="?access=vfio" ;;
  virtio-tap) query="?queues=2" ;;
esac
NIC="virtio:$pci$query"

check devices "${U[@]}" devices
if [ "$mode" = virtio ]; then
  expect_fail "error: device in use by the kernel driver" "in use by the kernel driver 'virtio-pci'" "${U[@]}" echo --nic "$NIC" --address $ADDR
  # The 9p share the guest runs on is a virtio device too (1af4:1009): never taken.
  p9=""
  for d in /sys/bus/pci/devices/*; do [ "$(id_of "${d##*/}")" = 0x1af4:0x1009 ] && p9=${d##*/}; done
  expect_fail "error: a virtio device that is not a NIC (9p, $p9) is refused" "not a NIC ustack drives" "${U[@]}" bind "$p9"
  # A legacy-only device (disable-modern=on: 1af4:1000 without virtio 1.x capabilities).
  check "bind the legacy-only device $pci2 ($(id_of "$pci2"))" "${U[@]}" bind "$pci2" --uio
  expect_fail "error: legacy-only device" "legacy-only virtio device" "${U[@]}" echo --nic "virtio:$pci2" --address $ADDR
  check "unbind the legacy-only device" "${U[@]}" unbind "$pci2"
fi
if [ "$mode" = virtio-vfio ]; then
  # A device without iommu_platform bypasses the IOMMU: VFIO's IOVAs cannot reach it.
  check "bind $pci2 (no iommu_platform) --vfio" "${U[@]}" bind "$pci2" --vfio
  expect_fail "error: VFIO with a device that bypasses the IOMMU" "VIRTIO_F_ACCESS_PLATFORM" "${U[@]}" echo --nic "virtio:$pci2?access=vfio" --address $ADDR
  check "unbind $pci2" "${U[@]}" unbind "$pci2"
fi
check "bind $access" "${U[@]}" bind "$pci" $access
check "devices after bind" "${U[@]}" devices
if [ "$mode" = virtio-vfio ]; then
  # Bad input from JavaScript against the real device behind the IOMMU, and
  # its lifetime (workers, a detached free stack, close).
  node "$dir/test/vm/virtio-checks.mjs" "$pci" vfio </dev/null 2>&1; rc=$?
  if [ $rc -ne 0 ]; then say "FAIL virtio checks (exit $rc)"; fi
fi
if [ "$mode" = virtio ]; then
  expect_fail "error: queues beyond the device's pairs" "queues=2 is out of range" "${U[@]}" echo --nic "$NIC?queues=2" --address $ADDR
fi
check "ping the gateway from the guest" "${U[@]}" ping --nic "$NIC" --address $ADDR --gateway $GW -c 3 $GW

start_echo && wait_host echo-ready
print_stats
check_dontfork
if [ "$mode" = virtio-tap ]; then
  wait_host mq-flows
  print_stats
fi

if [ "$mode" = virtio ]; then
  # Idle: the poll loop sleeps on the device interrupt (INTx through the UIO fd) instead of spinning.
  c0=$(awk '{print $14+$15}' /proc/$ECHO/stat); sleep 5; c1=$(awk '{print $14+$15}' /proc/$ECHO/stat)
  say "idle: ustack echo used $((c1 - c0)) CPU ticks in 5 s (CLK_TCK $(getconf CLK_TCK))"
  wait_host echo-after-idle
  print_stats
  wait_host kill-mid
  kill -KILL $ECHO; wait $ECHO 2>/dev/null
  say "killed ustack echo (SIGKILL) mid-transfer"
  start_echo && wait_host echo-ready-after-kill
  wait_host timed-ustack
  stop_echo

  # strace around a 10 MB echo (busy polling, node --single-threaded, after a warm-up), as for the e1000.
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
  io='^[0-9]+ +(read|readv|pread64|preadv|preadv2|write|writev|pwrite64|pwritev|pwritev2|send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg)\('
  grep -E "$io" /tmp/strace.log | head -20 | sed 's/^/   | /'
  grep -E "$io" /tmp/strace.log | sed -nE 's/^[0-9]+ +[a-z0-9_]+\(([0-9]+),.*/\1/p' | sort -u | while read -r fd; do
    echo "@@FD $fd $(readlink /proc/$ECHO/fd/$fd)"
  done
  stop_echo

  # The same echo through the guest kernel's own virtio_net driver and node:net.
  check "unbind (back to the kernel's virtio-pci + virtio_net)" "${U[@]}" unbind "$pci"
  ifc=""
  for _ in $(seq 1 50); do
    ifc=$(ls /sys/bus/pci/devices/$pci/virtio*/net 2>/dev/null | head -1)
    [ -n "$ifc" ] && break
    sleep 0.1
  done
  if [ -z "$ifc" ]; then say "FAIL kernel virtio_net did not take the device back"; else
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
