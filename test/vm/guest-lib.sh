# Helpers shared by the VM test's guest scripts (guest.sh for the e1000,
# guest-virtio.sh for virtio-net): "@@ ..." lines for the host, checks, and
# the ustack echo server the host drives. Sourced; expects $dir, $U, and for
# the echo $NIC, $ADDR, $GW.
say() { echo "@@ $*"; }
wait_host() { echo "@@WAIT $1"; read -r _reply; }
check() { # check NAME CMD... : runs CMD, prints its output, reports pass/fail
  local name=$1; shift
  local out rc
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out" | sed 's/^/   | /'
  if [ $rc -eq 0 ]; then say "PASS $name"; else say "FAIL $name (exit $rc)"; fi
  return $rc
}
expect_fail() { # expect_fail NAME PATTERN CMD... : CMD must fail and print PATTERN
  local name=$1 pat=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out" | sed 's/^/   | /'
  if [ $rc -ne 0 ] && printf '%s' "$out" | grep -q -- "$pat"; then say "PASS $name"; else say "FAIL $name"; fi
}

# An IPv6 address for the echo too, when the host gave one (ustack.addr6=).
ADDR6=$(sed -n 's/.*ustack\.addr6=\([^ ]*\).*/\1/p' /proc/cmdline)
ECHO=0
start_echo() {
  : > /tmp/echo.out; : > /tmp/echo.err
  node ${ECHO_NODE_FLAGS:-} "$dir/bin/ustack.js" echo --nic "$NIC" --address $ADDR ${ADDR6:+--address "$ADDR6"} --gateway $GW --port 7 "$@" </dev/null >/tmp/echo.out 2>/tmp/echo.err &
  ECHO=$!
  for _ in $(seq 1 600); do
    grep -q "listening" /tmp/echo.out && { sed 's/^/   | /' /tmp/echo.out; return 0; }
    kill -0 $ECHO 2>/dev/null || break
    sleep 0.1
  done
  say "FAIL ustack echo did not start"; sed 's/^/   | /' /tmp/echo.out /tmp/echo.err
  return 1
}
# The DMA region is left out of a fork: its mapping in the echo process
# carries VmFlags dc (hugetlbfs: the ustack-dma file; VFIO: locked anonymous memory).
check_dontfork() {
  local rows dma
  rows=$(awk '/^[0-9a-f]+-[0-9a-f]+ /{name=$6; next} /^VmFlags:/{print (name==""?"[anon]":name) " |" substr($0, 9) " "}' /proc/$ECHO/smaps)
  dma=$(printf '%s\n' "$rows" | grep -E 'ustack-dma| lo ')
  printf '%s\n' "$dma" | sed 's/^/   | /'
  if [ -n "$dma" ] && ! printf '%s\n' "$dma" | grep -qv ' dc '; then
    say "PASS DMA memory is MADV_DONTFORK in the running echo (VmFlags dc)"
  else
    say "FAIL DMA memory is MADV_DONTFORK in the running echo (VmFlags dc)"
  fi
}
stop_echo() {
  kill -INT $ECHO 2>/dev/null; wait $ECHO 2>/dev/null
  sed 's/^/   | /' /tmp/echo.out
}
print_stats() {
  kill -USR2 $ECHO; sleep 1
  echo "@@STATS $(tail -1 /tmp/echo.err)"
}

