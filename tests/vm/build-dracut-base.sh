#!/bin/bash
# build-dracut-base.sh BASEDIR OUTDIR — derive from the cached base guest
# (build-base.sh) a variant whose kernel is really installed as a Debian
# package, with dracut instead of initramfs-tools (in Debian 12 the two
# conflict), so that dracut can make a distribution initramfs inside the
# image (tests/vm/t-dracut.sh). The base itself is left alone: its root
# directory is copied. Nothing is installed on this machine.
#
# The chroot gets no /sys and no /dev of the host: dracut in its generic
# (not host-only) mode needs neither, and nothing run here can reach the
# host's /sys. /proc is a fresh procfs mount (dpkg's maintainer scripts and
# dracut read it), unmounted on exit.
#
# Environment: VFPT_VM_KERNEL_PKG and VFPT_VM_KERNEL_VERSION (the package
# and version the base was built from, from its key file).
set -euo pipefail

base=${1:?usage: build-dracut-base.sh BASEDIR OUTDIR}
out=${2:?usage: build-dracut-base.sh BASEDIR OUTDIR}
kpkg=${VFPT_VM_KERNEL_PKG:?}
kvers=${VFPT_VM_KERNEL_VERSION:?}
kver=$(cat "$base/kver")

log() { printf '[build-dracut-base] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root (chroot)"; exit 1; }
mkdir -p "$out"
r=$out/rootfs
rm -rf "$r"
cp -a --reflink=auto "$base/rootfs" "$r"
cp "$base/vmlinuz" "$base/kver" "$out/"

cleanup() {
	mountpoint -q "$r/proc" && umount "$r/proc"
	return 0
}
trap cleanup EXIT
mount -t proc -o nosuid,nodev,noexec proc "$r/proc"

# No service may start from a maintainer script in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
chmod 0755 "$r/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$r/etc/resolv.conf"

# Before dracut is installed (the kernel's postinst runs it): a generic
# initramfs (the host-only mode would look at the chroot's /sys, which it
# does not have), gzip for a quick build and unpacking under TCG.
mkdir -p "$r/etc/dracut.conf.d"
cat >"$r/etc/dracut.conf.d/10-vfpt-test.conf" <<'EOF'
# vfpt's test guest (tests/vm/build-dracut-base.sh)
hostonly="no"
compress="gzip"
EOF

# The kernel package comes from the host's apt (as in build-base.sh: it may
# be in a suite, e.g. security, that the guest's sources do not list); its
# dependencies and dracut from the guest's own.
log "apt-get download $kpkg=$kvers"
mkdir -p "$r/tmp/vfpt-dl"
# shellcheck disable=SC2015 # the .deb is checked below
(cd "$r/tmp/vfpt-dl" && apt-get download -q "$kpkg=$kvers" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
deb=$(cd "$r/tmp/vfpt-dl" && find . -name "${kpkg}_*.deb" | head -n1)
[ -n "$deb" ] || { log "apt-get download $kpkg=$kvers failed"; exit 1; }
log "apt-get install dracut ${deb#./} (chroot)"
export DEBIAN_FRONTEND=noninteractive
chroot "$r" apt-get -q update >"$out/apt.log" 2>&1 || { tail -n 20 "$out/apt.log" >&2; exit 1; }
chroot "$r" apt-get -q install -y --no-install-recommends dracut "/tmp/vfpt-dl/${deb#./}" >>"$out/apt.log" 2>&1 ||
	{ tail -n 40 "$out/apt.log" >&2; exit 1; }
rm -rf "$r/tmp/vfpt-dl"
if chroot "$r" dpkg-query -W -f '${Status}\n' initramfs-tools 2>/dev/null | grep -q '^install ok installed'; then
	log "initramfs-tools is still installed next to dracut"
	exit 1
fi
[ -f "$r/boot/initrd.img-$kver" ] || { log "the kernel's postinst (dracut) made no /boot/initrd.img-$kver"; exit 1; }
cmp -s "$r/boot/vmlinuz-$kver" "$out/vmlinuz" || { log "the installed kernel differs from the base's"; exit 1; }

# The same pruning as the base: modules this guest can never use.
m=$r/usr/lib/modules/$kver/kernel
rm -rf "$m/sound" "$m/drivers/gpu" "$m/drivers/media" "$m/drivers/net/wireless" \
	"$m/drivers/infiniband" "$m/drivers/staging" "$m/drivers/iio" "$m/drivers/isdn" \
	"$m/drivers/bluetooth" "$m/drivers/mtd" "$m/net/wireless" "$m/net/mac80211" \
	"$m/net/bluetooth" "$m/drivers/net/can" "$m/drivers/comedi"
chroot "$r" depmod "$kver"

rm -f "$r/usr/sbin/policy-rc.d" "$r/boot/initrd.img-$kver"
: >"$r/etc/resolv.conf"
rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* "$r"/usr/share/man/*
log "done: $(du -sh "$r" | cut -f1) rootfs, kernel $kver, $(chroot "$r" dpkg-query -W -f '${Package} ${Version}' dracut)"
