#!/bin/bash
# The VM test's guest side for one NIC, many workers on virtio-net
# (shards-virtio: -device virtio-net-pci,disable-legacy=on,mq=on with
# -netdev tap,queues=2, the host kernel as peer). Prints "@@ ..." lines for
# the host; "@@WAIT tag" waits for the host's part.
#   guest-shards.sh MODE DIR
# `ustack echo --nic virtio:PCI?queues=2 --workers 2` over UIO: the owner
# drives both queue pairs, the shared region (a huge-page memfd) is the
# device's DMA memory, two worker processes serve the echo. Steps:
#   - the memory is one: owner and workers map the same hugetlb memfd, and
#     the device's address of each worker's first slot (and of slot 0) is
#     the physical address behind that worker's own mapping of the slot
#     (/proc/PID/pagemap, test/vm/pool-phys.mjs);
#   - the host's 64 concurrent echo clients (shards-load), stats before and
#     after for the per-worker counts and the pool's census;
#   - worker 1 SIGKILLed while 64 clients are mid-transfer (shards-kill,
#     shards-killed), then stats once its replacement is online.
set -u
mode=$1
dir=$2
cd "$dir"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
U=(node "$dir/bin/ustack.js")
source "$dir/test/vm/guest-lib.sh"

arg() { sed -n "s/.*ustack\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
pci=$(arg pci)
ADDR=$(arg addr)
GW=$(arg gw)
t0=$(date +%s)
if [ -z "$pci" ] || [ ! -e "/sys/bus/pci/devices/$pci" ]; then say "FAIL no virtio-net device at '$pci'"; exit 1; fi
say "nic $pci mode $mode"
NIC="virtio:$pci?queues=2"

check "bind --uio" "${U[@]}" bind "$pci" --uio
free0=$(awk '/HugePages_Free/{print $2}' /proc/meminfo)

# The owner prints one JSON line on stderr per SIGUSR2 (ShardOwner.stats()).
shard_stats() {
  local n
  n=$(grep -c '^{' /tmp/echo.err)
  kill -USR2 $ECHO
  for _ in $(seq 1 200); do
    [ "$(grep -c '^{' /tmp/echo.err)" -gt "$n" ] && break
    sleep 0.1
  done
  STATS=$(grep '^{' /tmp/echo.err | tail -1)
}
# Stats once the pool is home: both workers online, each holding its whole
# partition (128 slots), nothing queued to send (as the host then checks).
settled_stats() {
  for _ in $(seq 1 60); do
    shard_stats
    if [ "$(printf '%s' "$STATS" | grep -o '"state":"online"' | wc -l)" -eq 2 ] &&
       printf '%s' "$STATS" | grep -q '"atWorker":\[128,128\]' &&
       printf '%s' "$STATS" | grep -q '"txOutstanding":0,'; then
      break
    fi
    sleep 1
  done
  echo "@@STATS $STATS"
}
worker_pid() { printf '%s' "$STATS" | grep -o "\"place\":$1,\"pid\":[0-9]*" | head -1 | sed 's/.*://'; }

: > /tmp/echo.out; : > /tmp/echo.err
# USTACK_DEBUG_DMA_ADDRESSES=1: the owner's stats name the device addresses pool-phys.mjs checks.
USTACK_DEBUG_DMA_ADDRESSES=1 node "$dir/bin/ustack.js" echo --nic "$NIC" --address $ADDR --gateway $GW --port 7 --workers 2 </dev/null >/tmp/echo.out 2>/tmp/echo.err &
ECHO=$!
ok=0
for _ in $(seq 1 1200); do
  grep -q "listening" /tmp/echo.out && { ok=1; break; }
  kill -0 $ECHO 2>/dev/null || break
  sleep 0.1
done
sed 's/^/   | /' /tmp/echo.out /tmp/echo.err
if [ $ok = 1 ]; then say "PASS ustack echo --workers 2 on $NIC started ($(( $(date +%s) - t0 )) s after boot)"; else say "FAIL ustack echo --workers 2 did not start"; fi

if [ $ok = 1 ]; then
  settled_stats
  W0=$(worker_pid 0); W1=$(worker_pid 1)
  say "owner pid $ECHO, worker 0 pid $W0, worker 1 pid $W1; huge pages in use $(( free0 - $(awk '/HugePages_Free/{print $2}' /proc/meminfo) ))"
  # One memory: the same hugetlb memfd in all three processes...
  for p in $ECHO $W0 $W1; do
    grep 'memfd:ustack-shards' /proc/$p/maps | sed "s/^/   | pid $p: /"
  done
  inodes=$(for p in $ECHO $W0 $W1; do grep 'memfd:ustack-shards' /proc/$p/maps | awk '{print $5}'; done | sort -u)
  huge=$(for p in $ECHO $W0 $W1; do awk '/memfd:ustack-shards/{m=1; next} /^[0-9a-f]+-/{m=0} m && /KernelPageSize/{print $2 $3}' /proc/$p/smaps; done | sort -u)
  if [ "$(printf '%s\n' "$inodes" | wc -l)" -eq 1 ] && [ -n "$inodes" ] && [ "$huge" = 2048kB ]; then
    say "PASS owner and both workers map one memfd (inode $inodes) in huge pages (KernelPageSize $huge)"
  else
    say "FAIL one hugetlb memfd in owner and workers (inodes: $(echo $inodes), page sizes: $(echo $huge))"
  fi
  # ...and the device reads and writes the physical pages behind each worker's mapping.
  node "$dir/test/vm/pool-phys.mjs" "$STATS" $W0 $W1 </dev/null 2>&1; rc=$?
  [ $rc -ne 0 ] && say "FAIL pool-phys.mjs (exit $rc)"

  wait_host shards-load
  settled_stats
  wait_host shards-after-load

  wait_host shards-kill
  kill -KILL $W1
  say "killed worker 1 (pid $W1) with SIGKILL mid-load"
  wait_host shards-killed
  # The replacement (ustack echo forks one into place 1) and every slot home.
  settled_stats
  wait_host shards-after-kill
  grep -E 'exited|online' /tmp/echo.err | sed 's/^/   | /'

  kill -INT $ECHO; wait $ECHO 2>/dev/null
  sed 's/^/   | /' /tmp/echo.out
  sleep 1
  for p in $W0 $W1; do kill -0 $p 2>/dev/null && say "FAIL worker pid $p still running after the owner stopped"; done
  say "huge pages in use after the owner stopped: $(( free0 - $(awk '/HugePages_Free/{print $2}' /proc/meminfo) ))"
fi
check "unbind" "${U[@]}" unbind "$pci"
say "shards-virtio guest part took $(( $(date +%s) - t0 )) s"
say "DONE"
