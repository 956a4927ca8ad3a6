#!/bin/bash
# Regenerates test/data/kernel-frames.pcap: bash test/data/capture-kernel-frames.sh test/data/kernel-frames.pcap
# Needs root, iproute2, ethtool, tcpdump, iputils-ping, python3. Creates and removes two namespaces.
set -e
A=ustk-cap-a; B=ustk-cap-b
cleanup() { ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $A; ip netns add $B
for ns in $A $B; do
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n $A link add va type veth peer name vb netns $B
ip -n $A addr add 10.77.0.1/24 dev va
ip -n $B addr add 10.77.0.2/24 dev vb
ip netns exec $A ethtool -K va tx off >/dev/null
ip netns exec $B ethtool -K vb tx off >/dev/null
ip -n $A link set va up; ip -n $B link set vb up; ip -n $A link set lo up; ip -n $B link set lo up
sleep 1
ip netns exec $A tcpdump -i va -U --immediate-mode -Z root -s 0 -w "$1" 'arp or ip' 2>/tmp/tcpdump.err & TD=$!
sleep 1
ip netns exec $A ping -c 3 -i 0.2 10.77.0.2
# TCP: echo server in B, client in A sends a little data and reads it back.
ip netns exec $B python3 -c '
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.77.0.2",5000)); s.listen(1)
c,_=s.accept(); d=c.recv(100); c.sendall(d.upper()); c.close()' & SRV=$!
# UDP listener in B
ip netns exec $B python3 -c '
import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.0.2",5001)); print(s.recvfrom(100))' & USRV=$!
sleep 0.5
ip netns exec $A python3 -c '
import socket
c=socket.create_connection(("10.77.0.2",5000)); c.sendall(b"hello from the kernel\n"); print(c.recv(100)); c.close()
u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"udp datagram for ustack", ("10.77.0.2",5001))
u.sendto(b"nobody listens here", ("10.77.0.2",5002))
import time; time.sleep(0.3)'
wait $SRV $USRV
sleep 0.5
sleep 1; kill $TD; wait $TD || true
cat /tmp/tcpdump.err
