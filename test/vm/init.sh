#!/bin/busybox sh
# /init of the VM test's initramfs: loads modules, mounts the host's root
# (virtio-9p, read-only) and runs test/vm/guest.sh from it in a chroot, so
# the host's node, strace and the project run in the guest unchanged.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mkdir -p /proc /sys /dev /host /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "@@ guest kernel $(uname -r) up"
while read -r m; do
  insmod "/modules/$m" 2>/dev/null || true
done < /modules/order
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 host /host || { echo "@@FAIL mount 9p"; echo o > /proc/sysrq-trigger; }
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
dir=$(sed -n 's/.*ustack\.dir=\([^ ]*\).*/\1/p' /proc/cmdline)
# The project may live under /tmp or /run (a CI checkout): keep it visible
# through the tmpfs mounted over them, by binding it back in place.
mkdir -p /project
mount -o bind "/host$dir" /project
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run 2>/dev/null || true
case "$dir" in
  /tmp/*|/run/*) mkdir -p "/host$dir"; mount -o bind /project "/host$dir" ;;
esac
mkdir -p /host/dev/hugepages /host/dev/pts
mount -t hugetlbfs nodev /host/dev/hugepages
# Kernel modules stay reachable from the chroot (for e1000.ko in the comparison).
cp -r /modules /host/tmp/modules
mode=$(sed -n 's/.*ustack\.mode=\([^ ]*\).*/\1/p' /proc/cmdline)
HOME=/tmp chroot /host /bin/bash "$dir/test/vm/guest.sh" "$mode" "$dir"
echo "@@ guest exiting"
echo o > /proc/sysrq-trigger
sleep 5
