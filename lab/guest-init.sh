#!/bin/busybox sh
# The lab guest's /init (PID 1 of the busybox initramfs that lab/lab.sh builds; see docs/lab.md).
#
# Hands the emulated NVMe and virtio-net functions to vfio-pci (driver_override before any driver
# loads, so no kernel driver ever touches them; the e1000e function stays with its kernel driver,
# for the test of that mistake's error), mounts the host's /usr, /etc, repository, ~/.m2 and the
# lab's shared directory over 9p at the host's paths in a chroot, runs the one guest JVM
# (lab.sh writes its arguments to <shared>/java.args), writes its exit code to <shared>/guest.rc
# and powers off. Any failure before that powers off too, without guest.rc: the host reports it.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "lab-guest: [$(cut -d' ' -f1 /proc/uptime) s] $*"; }
die() { say "FAILED: $*"; dmesg | tail -40; sync; poweroff -f; sleep 10; }

NVME_ID=1b36:0010
VIRTIO_NET_ID=1af4:1041
E1000E_ID=8086:10d3

# The function with vendor:device $1, or nothing.
find_function() {
    for dev in /sys/bus/pci/devices/*; do
        if [ "$(cat "$dev/vendor"):$(cat "$dev/device")" = "0x${1%%:*}:0x${1##*:}" ]; then
            basename "$dev"
            return
        fi
    done
}

NVME=$(find_function $NVME_ID)
VIRTIO_NET=$(find_function $VIRTIO_NET_ID)
KERNEL_BOUND=$(find_function $E1000E_ID)
[ -n "$NVME" ] || die "no NVMe function ($NVME_ID) on the guest's PCI bus"
[ -n "$VIRTIO_NET" ] || die "no modern virtio-net function ($VIRTIO_NET_ID) on the guest's PCI bus"
for bdf in $NVME $VIRTIO_NET; do
    echo vfio-pci > /sys/bus/pci/devices/$bdf/driver_override
done

# Dependencies first, in the order modprobe --show-depends gave on the host; vfio_iommu_type1 is
# in the list explicitly (only a soft dependency of vfio, which busybox would not follow).
while read -r module; do
    insmod /modules/$module || die "insmod $module failed"
done < /modules/order
say "modules loaded"

for bdf in $NVME $VIRTIO_NET; do
    if [ "$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver)")" != vfio-pci ]; then
        echo $bdf > /sys/bus/pci/drivers_probe
    fi
    group=$(basename "$(readlink /sys/bus/pci/devices/$bdf/iommu_group)")
    [ -n "$group" ] || die "$bdf has no IOMMU group (is intel-iommu on the QEMU command line?)"
    i=0
    while [ ! -e /dev/vfio/$group ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e /dev/vfio/$group ] || die "$bdf is not bound to vfio-pci (no /dev/vfio/$group)"
    say "$bdf ($(cat /sys/bus/pci/devices/$bdf/vendor):$(cat /sys/bus/pci/devices/$bdf/device)) bound to vfio-pci, IOMMU group $group"
done
# Drivers probe asynchronously: give e1000e and the 9p transports (virtio_pci) a moment.
i=0
while [ $i -lt 100 ]; do
    [ -n "$KERNEL_BOUND" ] && [ ! -e /sys/bus/pci/devices/$KERNEL_BOUND/driver ] ||
        [ "$(ls /sys/bus/virtio/drivers/9pnet_virtio 2>/dev/null | grep -c virtio)" -lt 5 ] || break
    sleep 0.1
    i=$((i + 1))
done
[ -z "$KERNEL_BOUND" ] || say "$KERNEL_BOUND left to $(basename "$(readlink /sys/bus/pci/devices/$KERNEL_BOUND/driver)")"

NINEP=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /shared
mount -t 9p -o $NINEP labshared /shared || die "cannot mount the shared directory (9p tag labshared; 9p transports: $(ls /sys/bus/virtio/drivers/9pnet_virtio 2>/dev/null | tr '\n' ' '))"
. /shared/guest.env   # REPO, M2, SHARED, JDK, JDK_TAG

mkdir -p /newroot
mount -t tmpfs -o size=1g,mode=755 root /newroot
cd /newroot
mkdir -p usr etc proc sys dev tmp run root ".$REPO" ".$M2" ".$SHARED"
chmod 1777 tmp
ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib; ln -s usr/lib64 lib64
cd /
mount -t 9p -o $NINEP,ro,cache=loose hostusr /newroot/usr || die "cannot mount the host's /usr"
mount -t 9p -o $NINEP,ro,cache=loose hostetc /newroot/etc || die "cannot mount the host's /etc"
# The repository (its target/ directories) and ~/.m2: read-only, at the host's paths; loose
# caching is safe because nothing changes them while the guest runs.
mount -t 9p -o $NINEP,ro,cache=loose repo "/newroot$REPO" || die "cannot mount the repository"
mount -t 9p -o $NINEP,ro,cache=loose m2 "/newroot$M2" || die "cannot mount ~/.m2"
if [ -n "$JDK_TAG" ]; then
    mkdir -p "/newroot$JDK"
    mount -t 9p -o $NINEP,ro,cache=loose "$JDK_TAG" "/newroot$JDK" || die "cannot mount the JDK"
fi
mount -o move /shared "/newroot$SHARED" || die "cannot move the shared directory into the chroot"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/shm /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
ip link set lo up
say "host file systems mounted; starting the test JVM"

chroot /newroot /bin/sh -c "cd '$REPO' && exec '$JDK/bin/java' \
    -Darrakis.lab.nvme=$NVME -Darrakis.lab.virtio-net=$VIRTIO_NET -Darrakis.lab.kernel-bound=$KERNEL_BOUND \
    @'$SHARED/java.args'"
rc=$?
say "test JVM exited with $rc"
echo $rc > "/newroot$SHARED/guest.rc"
sync
poweroff -f
