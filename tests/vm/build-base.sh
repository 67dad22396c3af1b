#!/bin/bash
# build-base.sh OUTDIR — build the cached base of the vfpt test guest from
# Debian packages only: the kernel (linux-image-amd64, unpacked, not
# installed on the host), a debootstrap'ed bookworm root filesystem with
# systemd + udev + dbus + kmod, and a busybox initramfs.  The project itself
# is NOT part of the base; lib.sh layers it on top per test run.
#
# Environment: VFPT_VM_SUITE (bookworm), VFPT_VM_MIRROR (from apt's sources),
# VFPT_VM_KERNEL_PKG (resolved from linux-image-amd64).
# Everything that decides what ends up in OUTDIR must be in this file or in
# tests/vm/guest/: lib.sh hashes both to key the cache.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-base.sh OUTDIR}
suite=${VFPT_VM_SUITE:-bookworm}
mirror=${VFPT_VM_MIRROR:-http://deb.debian.org/debian}
kpkg=${VFPT_VM_KERNEL_PKG:?}

# Packages of the guest beyond minbase.  libinih1 etc. are vfptd's runtime
# libraries; iproute2/pciutils are for the tests; driverctl is what
# tests/bench compares vfptd with (installed, inert until a device has an
# override in /etc/driverctl.d).
packages=systemd,systemd-sysv,udev,dbus,kmod,iproute2,pciutils,libinih1,libkmod2,libsystemd0,libudev1,driverctl

log() { printf '[build-base] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap, chroot)"; exit 1; }
mkdir -p "$out"
cd "$out"

# --- kernel -----------------------------------------------------------------
log "downloading $kpkg"
mkdir -p dl kernel
# shellcheck disable=SC2015 # grep finds nothing when apt is quiet; the .deb is checked below
(cd dl && apt-get download -q "$kpkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
deb=$(find dl -name "${kpkg}_*.deb" | head -n1)
[ -f "$deb" ] || { log "apt-get download $kpkg failed"; exit 1; }
dpkg -x "$deb" kernel
kver=$(find kernel/lib/modules -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n1)
if [ -z "$kver" ] || [ ! -f "kernel/boot/vmlinuz-$kver" ]; then
	log "no kernel in $deb"
	exit 1
fi
cp "kernel/boot/vmlinuz-$kver" vmlinuz
echo "$kver" >kver
log "kernel $kver"

# --- root filesystem --------------------------------------------------------
log "debootstrap --variant=minbase $suite ($mirror)"
debootstrap --variant=minbase --include="$packages" "$suite" rootfs "$mirror" >debootstrap.log 2>&1 || {
	tail -n 30 debootstrap.log >&2
	[ -f rootfs/debootstrap/debootstrap.log ] && tail -n 30 rootfs/debootstrap/debootstrap.log >&2
	log "debootstrap failed"
	exit 1
}
r=$out/rootfs

# Modules: the whole tree minus what this guest can never use, then depmod.
log "installing modules"
mkdir -p "$r/usr/lib/modules"
cp -a "kernel/lib/modules/$kver" "$r/usr/lib/modules/"
m=$r/usr/lib/modules/$kver/kernel
rm -rf "$m/sound" "$m/drivers/gpu" "$m/drivers/media" "$m/drivers/net/wireless" \
	"$m/drivers/infiniband" "$m/drivers/staging" "$m/drivers/iio" "$m/drivers/isdn" \
	"$m/drivers/bluetooth" "$m/drivers/mtd" "$m/net/wireless" "$m/net/mac80211" \
	"$m/net/bluetooth" "$m/drivers/net/can" "$m/drivers/comedi"
depmod -b "$r" "$kver" 2>/dev/null || chroot "$r" depmod "$kver"

# Guest configuration.
echo vfpt-guest >"$r/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vfpt-guest\n' >"$r/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 0\n' >"$r/etc/fstab"
chroot "$r" passwd -d root >/dev/null          # serial console login for debugging
mkdir -p "$r/var/log/journal"                  # keep the journal of earlier boots
# Nothing periodic or network-related should run in a 2-minute test guest.
for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
	e2scrub_reap.service fstrim.timer getty@tty1.service systemd-timesyncd.service; do
	chroot "$r" systemctl mask "$u" >/dev/null 2>&1 || true
done
: >"$r/etc/machine-id"                          # fresh id on first boot
rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* \
	"$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r/debootstrap"

# --- initramfs --------------------------------------------------------------
log "building initramfs"
ird=$out/initramfs
mkdir -p "$ird/bin" "$ird/lib/modules"
cp "$(command -v busybox)" "$ird/bin/busybox"
install -m 0755 "$here/guest/initramfs-init" "$ird/init"
: >"$ird/lib/modules/load-order"
for mod in virtio_pci virtio_blk crc32c_generic ext4; do
	chroot "$r" modprobe -S "$kver" --show-depends "$mod" | while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		base=${path##*/}
		grep -qx "$base" "$ird/lib/modules/load-order" && continue
		cp "$r$path" "$ird/lib/modules/$base"
		echo "$base" >>"$ird/lib/modules/load-order"
	done
done
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >initrd.img
rm -rf "$ird" kernel dl
log "base done: $(du -sh rootfs | cut -f1) rootfs"
