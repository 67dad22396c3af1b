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
	local base cache key dir lock rc kpkg kvers
	base=$(vm_base) || exit 1
	cache=$(vm_cache_dir)
	key=$({
		cat "$base/key" "$VM_SRCDIR/build-initramfs-base.sh"
	} | sha256sum | cut -c1-16)
	dir=$cache/initramfs-$key
	if [ ! -f "$dir/done" ]; then
		exec {lock}>"$cache/.lock"
		flock "$lock"
		if [ ! -f "$dir/done" ]; then
			read -r _ _ _ kpkg kvers <"$base/key"
			vm_log "building the initramfs-tools variant of the base into $dir (apt-get in a chroot; a few minutes once)"
			rm -rf "$dir.tmp"
			VFPT_VM_KERNEL_PKG=$kpkg VFPT_VM_KERNEL_VERSION=$kvers \
				"$VM_SRCDIR/build-initramfs-base.sh" "$base" "$dir.tmp" >&2
			rc=$?
			[ "$rc" = 0 ] || { flock -u "$lock"; vm_fail "building the initramfs-tools variant failed (logs in $dir.tmp)"; }
			touch "$dir.tmp/done"
			mv "$dir.tmp" "$dir"
			find "$cache" -maxdepth 1 -name 'initramfs-*' ! -name "initramfs-$key" -exec rm -rf {} + 2>/dev/null
			vm_log "initramfs-tools variant built"
		fi
		flock -u "$lock"
		exec {lock}>&-
	fi
	echo "$dir"
}
