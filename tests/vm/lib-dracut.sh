# shellcheck shell=bash
# lib-dracut.sh — a guest that boots a distribution initramfs made by dracut
# inside its own image (tests/vm/t-dracut.sh). Source it after lib.sh.
#
# The variant of the base (kernel package really installed, dracut instead
# of initramfs-tools) is built once by build-dracut-base.sh and cached next
# to the base as dracut-KEY, the key hashing the base's key and that script.

# vm_dracut_base — print the directory of the cached variant, building it
# (under the cache lock) when missing.
vm_dracut_base() {
	vm_variant_base dracut build-dracut-base.sh dracut
}

# _vm_dracut_make STAGE KVER NAME ARGS... — run dracut in the stage's chroot
# (the Debian way: the output the kernel's postinst names) and keep the image
# as $VM_RUN/initrd-NAME; its log is $VM_RUN/dracut-NAME.log.
_vm_dracut_make() {
	local stage=$1 kver=$2 name=$3 rc
	shift 3
	vm_log "dracut --force $* /boot/initrd.img-$kver (chroot, $name)"
	chroot "$stage" dracut --force --verbose "$@" "/boot/initrd.img-$kver" "$kver" >"$VM_RUN/dracut-$name.log" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then
		umount "$stage/proc"
		tail -n 30 "$VM_RUN/dracut-$name.log" >&2
		vm_fail "dracut failed ($rc) for $name"
	fi
	cp "$stage/boot/initrd.img-$kver" "$VM_RUN/initrd-$name"
}

# vm_dracut_disk MODULE DROPIN-NAME DROPIN-LINE... — this scenario's disk:
# the variant with the project installed (as vm_project_image installs it),
# the drop-in /etc/vfpt.d/DROPIN-NAME.conf, MODULE in dracut's force_drivers
# (loaded early by the initramfs: rd.driver.pre), and three images made by
# dracut in the image:
#   $VM_RUN/initrd-off       VFPT_INITRAMFS=no
#   $VM_RUN/initrd-on        VFPT_INITRAMFS=yes, systemd in the initramfs
#                            (Debian's default)
#   $VM_RUN/initrd-on-shell  VFPT_INITRAMFS=yes, dracut's shell init
#                            (--omit systemd)
# The disk keeps VFPT_INITRAMFS=yes and /boot/initrd.img-KVER is initrd-on,
# with the module's record of the packed drop-ins. Sets VM_KERNEL and
# VM_DISK; the scenario sets VM_INITRD to one of the images.
vm_dracut_disk() {
	local module=$1 name=$2 variant stage kver
	shift 2
	variant=$(vm_dracut_base) || exit 1
	vm_project_image >/dev/null || exit 1 # the install tree, $VM_WORK/install
	kver=$(cat "$variant/kver")
	stage=$VM_RUN/stage
	rm -rf "$stage"
	vm_log "layering the project onto the dracut variant"
	cp -a --reflink=auto "$variant/rootfs" "$stage"
	cp -a "$VM_WORK/install/." "$stage/"
	mkdir -p "$stage/etc/vfpt.d"
	printf '%s\n' "$@" >"$stage/etc/vfpt.d/$name.conf"
	# The fastest gzip: dracut runs three times per run.
	printf 'force_drivers+=" %s "\ncompress="gzip -n -1"\n' "$module" >"$stage/etc/dracut.conf.d/50-vfpt-test.conf"
	chroot "$stage" systemctl enable vfpt-test-agent.service vfptd.service >"$VM_RUN/enable.log" 2>&1 ||
		{ cat "$VM_RUN/enable.log" >&2; vm_fail "systemctl enable failed in the image"; }
	[ -x "$stage/usr/lib/dracut/modules.d/90vfpt/module-setup.sh" ] || vm_fail "this build installs no dracut module"
	# /proc for dracut; no /sys, no /dev of the host.
	mount -t proc -o nosuid,nodev,noexec proc "$stage/proc" || vm_fail "cannot mount /proc in the stage"
	sed -i 's/^VFPT_INITRAMFS=.*/VFPT_INITRAMFS=no/' "$stage/etc/vfpt/initramfs.conf"
	_vm_dracut_make "$stage" "$kver" off
	sed -i 's/^VFPT_INITRAMFS=.*/VFPT_INITRAMFS=yes/' "$stage/etc/vfpt/initramfs.conf"
	_vm_dracut_make "$stage" "$kver" on-shell --omit systemd
	_vm_dracut_make "$stage" "$kver" on
	umount "$stage/proc" || vm_fail "cannot unmount /proc of the stage"
	VM_KERNEL=$variant/vmlinuz
	VM_DISK=$VM_RUN/disk.img
	rm -f "$VM_DISK"
	mke2fs -q -t ext4 -L vfpt-root -d "$stage" -F "$VM_DISK" "$VM_DISK_SIZE" >"$VM_RUN/mke2fs.log" 2>&1 ||
		{ cat "$VM_RUN/mke2fs.log" >&2; vm_fail "mke2fs -d failed"; }
	rm -rf "$stage"
}
