# shellcheck shell=bash
# lib-initramfs.sh — a guest that boots a distribution initramfs made by
# initramfs-tools inside its own image (tests/vm/t-initramfs.sh). Source it
# after lib.sh.
#
# The variant of the base (kernel package really installed, initramfs-tools)
# is built once by build-initramfs-base.sh and cached next to the base as
# initramfs-KEY, the key hashing the base's key and that script.

# vm_initramfs_base — print the directory of the cached variant, building it
# (under the cache lock) when missing.
vm_initramfs_base() {
	vm_variant_base initramfs build-initramfs-base.sh initramfs-tools
}

# vm_initramfs_disk MODULE DROPIN-NAME DROPIN-LINE... — this scenario's disk:
# the variant with the project installed (as vm_project_image installs it),
# the drop-in /etc/vfpt.d/DROPIN-NAME.conf, MODULE in
# /etc/initramfs-tools/modules (loaded early by the initramfs), and two
# initramfs images made by update-initramfs in the image: $VM_RUN/initrd-off
# (VFPT_INITRAMFS=no) and then $VM_RUN/initrd-on (VFPT_INITRAMFS=yes, which
# the disk keeps, with the hook's record of the packed drop-ins). Sets
# VM_KERNEL and VM_DISK; the scenario sets VM_INITRD to one of the two.
vm_initramfs_disk() {
	local module=$1 name=$2 variant stage kver f rc
	shift 2
	variant=$(vm_initramfs_base) || exit 1
	vm_project_image >/dev/null || exit 1 # the install tree, $VM_WORK/install
	kver=$(cat "$variant/kver")
	stage=$VM_RUN/stage
	rm -rf "$stage"
	vm_log "layering the project onto the initramfs-tools variant"
	cp -a --reflink=auto "$variant/rootfs" "$stage"
	cp -a "$VM_WORK/install/." "$stage/"
	mkdir -p "$stage/etc/vfpt.d"
	printf '%s\n' "$@" >"$stage/etc/vfpt.d/$name.conf"
	printf '%s\n' "$module" >>"$stage/etc/initramfs-tools/modules"
	chroot "$stage" systemctl enable vfpt-test-agent.service vfptd.service >"$VM_RUN/enable.log" 2>&1 ||
		{ cat "$VM_RUN/enable.log" >&2; vm_fail "systemctl enable failed in the image"; }
	[ -x "$stage/usr/share/initramfs-tools/hooks/vfpt" ] || vm_fail "this build installs no initramfs-tools hook"
	# /proc for mkinitramfs; no /sys, no /dev of the host.
	mount -t proc -o nosuid,nodev,noexec proc "$stage/proc" || vm_fail "cannot mount /proc in the stage"
	for f in off on; do
		sed -i "s/^VFPT_INITRAMFS=.*/VFPT_INITRAMFS=$([ $f = on ] && echo yes || echo no)/" "$stage/etc/vfpt/initramfs.conf"
		vm_log "update-initramfs -c -k $kver with VFPT_INITRAMFS=$([ $f = on ] && echo yes || echo no) (chroot)"
		chroot "$stage" update-initramfs -c -v -k "$kver" >"$VM_RUN/update-initramfs-$f.log" 2>&1
		rc=$?
		if [ "$rc" != 0 ]; then
			umount "$stage/proc"
			tail -n 30 "$VM_RUN/update-initramfs-$f.log" >&2
			vm_fail "update-initramfs failed ($rc) with the hook $f"
		fi
		cp "$stage/boot/initrd.img-$kver" "$VM_RUN/initrd-$f"
		rm -f "$stage/boot/initrd.img-$kver"
	done
	umount "$stage/proc" || vm_fail "cannot unmount /proc of the stage"
	# The disk's /boot holds the initramfs the claim was packed into.
	cp "$VM_RUN/initrd-on" "$stage/boot/initrd.img-$kver"
	VM_KERNEL=$variant/vmlinuz
	VM_DISK=$VM_RUN/disk.img
	rm -f "$VM_DISK"
	mke2fs -q -t ext4 -L vfpt-root -d "$stage" -F "$VM_DISK" "$VM_DISK_SIZE" >"$VM_RUN/mke2fs.log" 2>&1 ||
		{ cat "$VM_RUN/mke2fs.log" >&2; vm_fail "mke2fs -d failed"; }
	rm -rf "$stage"
}
