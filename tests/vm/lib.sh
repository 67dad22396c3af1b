# shellcheck shell=bash
# lib.sh — the host side of vfpt's real-kernel test bed (tests/vm).
#
# A scenario is a bash script that sources this file and reads as a small
# test:
#
#   . "$(dirname "$0")/lib.sh"
#   vm_init boot-claim "$1"            # name, meson build dir
#   vm_disk_new                        # fresh copy of the per-run guest image
#   vm_conf 10-xhci "[xhci]" "ids = 1b36:000d"
#   vm_boot
#   assert_eq "vfptd is active" active "$(vm_run systemctl is-active vfptd)"
#   vm_poweroff
#   vm_pass
#
# Images: a base (kernel, initramfs, debootstrap'ed root directory) is built
# once and cached, keyed on a hash of build-base.sh, the initramfs script,
# the suite, mirror and kernel package version; the project (meson install
# --destdir) plus the test helpers are layered onto a copy of the base and
# written with mke2fs -d into a per-build-dir image, keyed on a hash of the
# installed files, so a rebuilt vfptd gives a new image and an unchanged one
# is reused.  Each scenario boots its own copy of that image.
#
# Channels: the guest runs vfpt-test-agent on a virtio-serial port; QEMU
# connects it and a QMP monitor to FIFO pairs in the run directory (pure
# bash, no socat/python needed); a second QMP monitor listens on
# $VM_RUN/qmp.sock for people.  The serial console (kernel + the journal,
# forwarded by journald) goes to $VM_RUN/serial.log.
#
# Needs root (debootstrap, chroot, files owned by root in the image).

set -uo pipefail

VM_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_NAME=
VM_BUILDDIR=
VM_WORK=
VM_RUN=
VM_DISK=
VM_PID=
VM_BOOTS=0
VM_FAILED=0
VM_STARTED=$SECONDS
VM_APPEND=${VM_APPEND:-}
VM_KEEP=${VM_KEEP:-0}
VM_QEMU_TIMEOUT=${VM_QEMU_TIMEOUT:-900}
VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-300}
VM_RUN_TIMEOUT=${VM_RUN_TIMEOUT:-180}
VM_MEM=${VM_MEM:-1024}
VM_SMP=${VM_SMP:-2}
VM_DISK_SIZE=${VM_DISK_SIZE:-2G}
VM_LINE=
# A scenario's own QEMU arguments (more devices), appended after the bed's.
VM_EXTRA_ARGS=()

# --- logging and assertions ---------------------------------------------------

vm_log() { printf '# [%4ds] %s\n' $((SECONDS - VM_STARTED)) "$*" >&2; }

vm_fail() {
	printf 'FAIL: %s\n' "$*" >&2
	VM_FAILED=1
	exit 1
}

vm_skip() {
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}

vm_ok() { printf 'ok - %s\n' "$*"; }

# assert_eq DESCRIPTION EXPECTED ACTUAL
assert_eq() {
	if [ "$2" == "$3" ]; then
		vm_ok "$1"
	else
		vm_fail "$1"$'\n'"  expected: $2"$'\n'"  actual:   $3"
	fi
}

# assert_ne DESCRIPTION UNEXPECTED ACTUAL
assert_ne() {
	if [ "$2" != "$3" ]; then
		vm_ok "$1"
	else
		vm_fail "$1"$'\n'"  expected anything but: $2"
	fi
}

# assert_match DESCRIPTION EXTENDED-REGEX TEXT
assert_match() {
	# A here-string, not a pipe: grep -q stops reading at the first match,
	# and under pipefail the writer's SIGPIPE would fail a matching input
	# larger than the pipe buffer.
	if grep -qE -- "$2" <<<"$3"; then
		vm_ok "$1"
	else
		vm_fail "$1"$'\n'"  expected a line matching: $2"$'\n'"  in:"$'\n'"$(printf '%s\n' "$3" | sed 's/^/    | /')"
	fi
}

# assert_no_match DESCRIPTION EXTENDED-REGEX TEXT
assert_no_match() {
	local hits
	hits=$(printf '%s\n' "$3" | grep -E -- "$2")
	if [ -z "$hits" ]; then
		vm_ok "$1"
	else
		vm_fail "$1"$'\n'"  expected no line matching: $2"$'\n'"  found:"$'\n'"$(printf '%s\n' "$hits" | sed 's/^/    | /')"
	fi
}

# assert_guest DESCRIPTION CMD... — CMD must succeed in the guest
assert_guest() {
	local desc=$1 out rc
	shift
	out=$(vm_run "$@")
	rc=$?
	if [ "$rc" = 0 ]; then
		vm_ok "$desc"
	else
		vm_fail "$desc"$'\n'"  guest command: $*"$'\n'"  exit status $rc, output:"$'\n'"$(printf '%s\n' "$out" | sed 's/^/    | /')"
	fi
}

# assert_guest_fails DESCRIPTION CMD... — CMD must fail in the guest
assert_guest_fails() {
	local desc=$1 out rc
	shift
	out=$(vm_run "$@")
	rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 255 ]; then
		vm_ok "$desc"
	else
		vm_fail "$desc"$'\n'"  guest command: $*"$'\n'"  exit status $rc (expected failure), output:"$'\n'"$(printf '%s\n' "$out" | sed 's/^/    | /')"
	fi
}

# --- set-up ----------------------------------------------------------------

# vm_init NAME BUILDDIR — check the host, create the run directory and arrange
# for QEMU to be stopped and the logs kept when the script exits.
vm_init() {
	VM_NAME=${1:?vm_init NAME BUILDDIR}
	VM_BUILDDIR=$(cd "${2:?vm_init NAME BUILDDIR}" && pwd) || vm_fail "no build dir $2"
	[ "$(id -u)" = 0 ] || vm_skip "the VM tests need root (debootstrap, chroot, root-owned image files)"
	local t
	for t in qemu-system-x86_64 debootstrap mke2fs debugfs busybox cpio flock timeout meson apt-get dpkg; do
		command -v "$t" >/dev/null || vm_skip "$t not found (see tests/vm/README.md for the host packages)"
	done
	# One guest at a time on the whole machine, whichever build or work tree
	# started it: two TCG guests on a 2-core host starve each other's timers.
	mkdir -p "$(vm_cache_dir)"
	exec {VM_RUNLOCK}>"$(vm_cache_dir)/.run-lock"
	if ! flock -n "$VM_RUNLOCK"; then
		vm_log "$VM_NAME: waiting for another guest on this machine to finish"
		flock "$VM_RUNLOCK"
	fi
	VM_WORK=${VFPT_VM_WORK:-$VM_BUILDDIR/vm-tests}
	VM_RUN=$VM_WORK/runs/$VM_NAME
	rm -rf "$VM_RUN"
	mkdir -p "$VM_RUN"
	trap _vm_exit EXIT
	trap 'exit 130' INT TERM
	vm_log "$VM_NAME: run directory $VM_RUN"
}

_vm_exit() {
	local rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 77 ] && VM_FAILED=1
	if [ "$VM_FAILED" = 1 ] && vm_alive; then
		VM_RUN_TIMEOUT=60 vm_run journalctl -b --no-pager -o short-monotonic >"$VM_RUN/journal.txt" 2>&1 || true
		VM_RUN_TIMEOUT=60 vm_run vfpt-test-pci table >"$VM_RUN/pci-table.txt" 2>&1 || true
	fi
	_vm_kill
	if [ "$VM_FAILED" = 1 ]; then
		{
			echo "# $VM_NAME failed after $((SECONDS - VM_STARTED)) s; kept for inspection:"
			echo "#   serial log (kernel + journal): $VM_RUN/serial.log"
			[ -s "$VM_RUN/journal.txt" ] && echo "#   guest journal:                 $VM_RUN/journal.txt"
			[ -s "$VM_RUN/pci-table.txt" ] && echo "#   guest PCI table:               $VM_RUN/pci-table.txt"
			[ -f "$VM_RUN/disk.img" ] && echo "#   guest disk (journal in /var/log/journal): $VM_RUN/disk.img"
			if grep -qv 'terminating on signal' "$VM_RUN/qemu.log" 2>/dev/null; then
				echo "# QEMU said ($VM_RUN/qemu.log):"
				grep -v 'terminating on signal' "$VM_RUN/qemu.log" | tail -n 20 | sed 's/^/#   | /'
			fi
			echo "# last lines of the serial log:"
			tail -n 40 "$VM_RUN/serial.log" 2>/dev/null | sed 's/^/#   | /'
		} >&2
	elif [ -n "$VM_RUN" ] && [ "$VM_KEEP" != 1 ]; then
		rm -f "$VM_RUN/disk.img"
	fi
	exit "$rc"
}

vm_pass() {
	vm_log "$VM_NAME: passed in $((SECONDS - VM_STARTED)) s ($VM_BOOTS boots)"
	exit 0
}

# --- images -------------------------------------------------------------------

vm_cache_dir() {
	if [ -n "${VFPT_VM_CACHE:-}" ]; then
		echo "$VFPT_VM_CACHE"
	elif [ -n "${XDG_CACHE_HOME:-}" ]; then
		echo "$XDG_CACHE_HOME/vfpt-vm"
	elif [ "$(id -u)" = 0 ]; then
		echo /var/cache/vfpt-vm
	else
		echo "$HOME/.cache/vfpt-vm"
	fi
}

_vm_mirror() {
	local m
	m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list |
		grep -oE 'https?://[^ ]*/debian/?( |$)' | head -n1 | tr -d ' ')
	echo "${m:-http://deb.debian.org/debian}"
}

# vm_base — print the directory of the cached base guest, building it first
# (under a lock, so parallel runs build it once) if it is missing.
vm_base() {
	local cache suite mirror kpkg kvers key dir lock rc
	cache=$(vm_cache_dir)
	mkdir -p "$cache"
	suite=${VFPT_VM_SUITE:-bookworm}
	mirror=${VFPT_VM_MIRROR:-$(_vm_mirror)}
	kpkg=${VFPT_VM_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\).*/\1/p' | head -n1)}
	[ -n "$kpkg" ] || vm_fail "cannot resolve linux-image-amd64 with apt-cache (run apt-get update?)"
	kvers=$(apt-cache show --no-all-versions "$kpkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
	key=$({
		cat "$VM_SRCDIR/build-base.sh" "$VM_SRCDIR/guest/initramfs-init"
		echo "$suite $mirror $kpkg $kvers"
	} | sha256sum | cut -c1-16)
	dir=$cache/base-$key
	if [ ! -f "$dir/done" ]; then
		exec {lock}>"$cache/.lock"
		flock "$lock"
		if [ ! -f "$dir/done" ]; then
			vm_log "building the base guest into $dir (debootstrap; takes a few minutes once)"
			rm -rf "$dir.tmp"
			VFPT_VM_SUITE=$suite VFPT_VM_MIRROR=$mirror VFPT_VM_KERNEL_PKG=$kpkg \
				"$VM_SRCDIR/build-base.sh" "$dir.tmp" >&2
			rc=$?
			[ "$rc" = 0 ] || { flock -u "$lock"; vm_fail "building the base guest failed (logs in $dir.tmp)"; }
			echo "$key $suite $mirror $kpkg $kvers" >"$dir.tmp/key"
			touch "$dir.tmp/done"
			mv "$dir.tmp" "$dir"
			# Older bases are never used again.
			find "$cache" -maxdepth 1 -name 'base-*' ! -name "base-$key" -exec rm -rf {} + 2>/dev/null
			vm_log "base guest built"
		fi
		flock -u "$lock"
		exec {lock}>&-
	fi
	echo "$dir"
}

# _vm_probe_bin — the static VFIO probe: meson's build if it is current,
# otherwise compiled here.
_vm_probe_bin() {
	local b=$VM_BUILDDIR/tests/vm/vfio-probe
	if [ -x "$b" ] && [ "$b" -nt "$VM_SRCDIR/vfio-probe.c" ]; then
		echo "$b"
		return
	fi
	b=$VM_WORK/vfio-probe
	if [ ! -x "$b" ] || [ "$VM_SRCDIR/vfio-probe.c" -nt "$b" ]; then
		if ! cc -static -O2 -Wall -o "$b.tmp" "$VM_SRCDIR/vfio-probe.c" >&2; then
			vm_fail "cannot build vfio-probe (needs cc and libc6-dev for -static)"
		fi
		mv "$b.tmp" "$b"
	fi
	echo "$b"
}

# vm_variant_base NAME SCRIPT WHAT — print the directory of a cached variant
# of the base guest (NAME-KEY in the vm cache), building it first with
# SCRIPT BASE OUTDIR under the cache lock; KEY hashes the base's key and
# SCRIPT. WHAT names it in the log.
vm_variant_base() {
	local name=$1 script=$VM_SRCDIR/$2 what=$3 base cache key dir lock rc kpkg kvers
	base=$(vm_base) || exit 1
	cache=$(vm_cache_dir)
	key=$({
		cat "$base/key" "$script"
	} | sha256sum | cut -c1-16)
	dir=$cache/$name-$key
	if [ ! -f "$dir/done" ]; then
		exec {lock}>"$cache/.lock"
		flock "$lock"
		if [ ! -f "$dir/done" ]; then
			read -r _ _ _ kpkg kvers <"$base/key"
			vm_log "building the $what variant of the base into $dir (apt-get in a chroot; a few minutes once)"
			rm -rf "$dir.tmp"
			VFPT_VM_KERNEL_PKG=$kpkg VFPT_VM_KERNEL_VERSION=$kvers \
				"$script" "$base" "$dir.tmp" >&2
			rc=$?
			[ "$rc" = 0 ] || { flock -u "$lock"; vm_fail "building the $what variant failed (logs in $dir.tmp)"; }
			touch "$dir.tmp/done"
			mv "$dir.tmp" "$dir"
			find "$cache" -maxdepth 1 -name "$name-*" ! -name "$name-$key" -exec rm -rf {} + 2>/dev/null
			vm_log "$what variant built"
		fi
		flock -u "$lock"
		exec {lock}>&-
	fi
	echo "$dir"
}

# _vm_fault_preload — the fault-injection preload (fault-preload.c):
# meson's build if it is current, otherwise compiled here.
_vm_fault_preload() {
	local b=$VM_BUILDDIR/tests/vm/vfpt-fault-preload.so
	if [ -f "$b" ] && [ "$b" -nt "$VM_SRCDIR/fault-preload.c" ]; then
		echo "$b"
		return
	fi
	b=$VM_WORK/vfpt-fault-preload.so
	if [ ! -f "$b" ] || [ "$VM_SRCDIR/fault-preload.c" -nt "$b" ]; then
		cc -shared -fPIC -O2 -Wall -o "$b.tmp" "$VM_SRCDIR/fault-preload.c" -ldl >&2 ||
			vm_fail "cannot build the fault preload (needs cc)"
		mv "$b.tmp" "$b"
	fi
	echo "$b"
}

# vm_project_image — print the path of the guest image with this build of
# the project installed, building it if the installed files changed.
# With VM_FROM_DEB=1 (set before vm_disk_new) the project comes instead from
# its Debian package: built on the host from this source tree
# (tests/package/build-deb.sh, cached with the package suite's build) and
# installed with `dpkg -i` in the image, whose postinst enables vfptd.
VM_FROM_DEB=${VM_FROM_DEB:-0}
vm_project_image() {
	local base inst key img lock stage probe preload f deb='' prefix=project
	base=$(vm_base) || exit 1
	mkdir -p "$VM_WORK"
	if [ "$VM_FROM_DEB" = 1 ]; then
		f=$("$VM_SRCDIR/../package/build-deb.sh" "$VM_SRCDIR/../.." "$VM_BUILDDIR/package") ||
			vm_fail "building the Debian package failed"
		deb=$(find "$f" -maxdepth 1 -name 'vfpt_*.deb' | head -n1)
		[ -f "$deb" ] || vm_fail "no vfpt_*.deb in $f"
		prefix=package
	fi
	exec {lock}>"$VM_WORK/.lock"
	flock "$lock"
	inst=$VM_WORK/install
	rm -rf "$inst"
	if [ -n "$deb" ]; then
		mkdir -p "$inst"
	else
		meson install -C "$VM_BUILDDIR" --destdir "$inst" --no-rebuild >"$VM_WORK/install.log" 2>&1 ||
			{ flock -u "$lock"; cat "$VM_WORK/install.log" >&2; vm_fail "meson install --destdir failed"; }
	fi
	probe=$(_vm_probe_bin) || exit 1
	# The test helpers and the VFIO probe, where the guest finds them.
	install -D -m 0755 "$probe" "$inst/usr/local/bin/vfio-probe"
	preload=$(_vm_fault_preload) || exit 1
	install -D -m 0644 "$preload" "$inst/usr/local/lib/vfpt-fault-preload.so"
	install -D -m 0755 "$VM_SRCDIR/guest/vfpt-test-pci" "$inst/usr/local/bin/vfpt-test-pci"
	install -D -m 0755 "$VM_SRCDIR/guest/vfpt-test-agent" "$inst/usr/local/sbin/vfpt-test-agent"
	install -D -m 0644 "$VM_SRCDIR/guest/vfpt-test-agent.service" "$inst/etc/systemd/system/vfpt-test-agent.service"
	install -D -m 0644 "$VM_SRCDIR/guest/journald-console.conf" "$inst/etc/systemd/journald.conf.d/vfpt-test.conf"
	chown -R 0:0 "$inst"
	key=$({
		cat "$base/key" "${BASH_SOURCE[0]}"
		tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$inst" -cf - .
		[ -z "$deb" ] || cat "$deb"
	} | sha256sum | cut -c1-16)
	img=$VM_WORK/$prefix-$key.img
	if [ ! -f "$img" ]; then
		vm_log "layering the project onto the base -> $img"
		stage=$VM_WORK/stage
		rm -rf "$stage"
		cp -a --reflink=auto "$base/rootfs" "$stage"
		cp -a "$inst/." "$stage/"
		chroot "$stage" systemctl enable vfpt-test-agent.service >/dev/null 2>&1
		if [ -n "$deb" ]; then
			cp "$deb" "$stage/tmp/vfpt.deb"
			chroot "$stage" dpkg -i /tmp/vfpt.deb >"$VM_WORK/dpkg.log" 2>&1 ||
				{ flock -u "$lock"; cat "$VM_WORK/dpkg.log" >&2; vm_fail "dpkg -i $(basename "$deb") failed in the image"; }
			rm -f "$stage/tmp/vfpt.deb"
			vm_log "installed $(basename "$deb") with dpkg -i"
		fi
		mkdir -p "$stage/etc/vfpt.d"
		if [ -n "$deb" ]; then
			: # enabled by the package's postinst, or not at all
		elif [ -f "$stage/usr/lib/systemd/system/vfptd.service" ] || [ -f "$stage/lib/systemd/system/vfptd.service" ]; then
			chroot "$stage" systemctl enable vfptd.service >"$VM_WORK/enable.log" 2>&1 ||
				{ flock -u "$lock"; cat "$VM_WORK/enable.log" >&2; vm_fail "systemctl enable vfptd.service failed in the image"; }
		else
			vm_log "WARNING: this build installs no vfptd.service"
		fi
		for f in "$stage/usr/sbin/vfptd" "$stage/usr/bin/vfptctl"; do
			[ -x "$f" ] || continue
			if chroot "$stage" ldd "${f#"$stage"}" 2>&1 | grep -q 'not found'; then
				chroot "$stage" ldd "${f#"$stage"}" >&2
				flock -u "$lock"
				vm_fail "${f#"$stage"} needs libraries the guest lacks (add them to build-base.sh)"
			fi
		done
		rm -f "$img.tmp"
		mke2fs -q -t ext4 -L vfpt-root -d "$stage" -F "$img.tmp" "$VM_DISK_SIZE" >"$VM_WORK/mke2fs.log" 2>&1 ||
			{ flock -u "$lock"; vm_fail "mke2fs -d failed"; }
		rm -rf "$stage"
		find "$VM_WORK" -maxdepth 1 -name "$prefix-*.img" ! -name "$prefix-$key.img" -delete
		mv "$img.tmp" "$img"
	fi
	flock -u "$lock"
	exec {lock}>&-
	VM_KERNEL=$base/vmlinuz
	VM_INITRD=$base/initrd.img
	echo "$img"
}

# vm_disk_new — give this scenario a fresh disk: a copy of the project image.
vm_disk_new() {
	local img
	img=$(vm_project_image) || exit 1
	# vm_project_image ran in a subshell; the kernel paths are derivable.
	local base
	base=$(vm_base) || exit 1
	VM_KERNEL=$base/vmlinuz
	VM_INITRD=$base/initrd.img
	VM_DISK=$VM_RUN/disk.img
	cp --sparse=always --reflink=auto "$img" "$VM_DISK" || vm_fail "cannot copy $img"
}

# vm_put GUESTPATH MODE CONTENT — write a file into the (powered off) disk.
vm_put() {
	local path=$1 mode=$2 content=$3 tmp dir
	vm_alive && vm_fail "vm_put $path: the guest is running (use vm_run)"
	tmp=$VM_RUN/put.tmp
	printf '%s\n' "$content" >"$tmp"
	chmod "$mode" "$tmp"
	dir=${path%/*}
	debugfs -w -R "mkdir $dir" "$VM_DISK" >/dev/null 2>&1 || true
	debugfs -w -R "rm $path" "$VM_DISK" >/dev/null 2>&1 || true
	debugfs -w -R "write $tmp $path" "$VM_DISK" >"$VM_RUN/debugfs.log" 2>&1 ||
		{ cat "$VM_RUN/debugfs.log" >&2; vm_fail "debugfs write $path failed"; }
	debugfs -R "stat $path" "$VM_DISK" 2>/dev/null | grep -q 'Type: regular' ||
		vm_fail "vm_put: $path is not in the image after writing"
	rm -f "$tmp"
}

# vm_conf NAME LINE... — put /etc/vfpt.d/NAME.conf (guest powered off).
vm_conf() {
	local name=$1
	shift
	vm_put "/etc/vfpt.d/$name.conf" 0644 "$(printf '%s\n' "$@")"
}

# --- the guest --------------------------------------------------------------

vm_alive() { [ -n "$VM_PID" ] && kill -0 "$VM_PID" 2>/dev/null; }

# The QEMU machine.  Addresses on pcie.0 and root-port slot numbers are
# QEMU-side names; the tests find the guest addresses through them
# (vfpt-test-pci port SLOT / under / find), never by a fixed BDF.
#   slot 1, 2   e1000e (8086:10d3), same IDs, each on its own root port
#   slot 3      qemu-xhci (1b36:000d)
#   slot 4      pcie-pci-bridge (1b36:000e) with e1000 (8086:100e) and
#               rtl8139 (10ec:8139) behind it: one IOMMU group of three
#   slot 5, 6   empty root ports for hotplug (ids rp5, rp6)
# The root disk is virtio-blk on pcie.0, the agent's virtio-serial too.
# A scenario adds devices with VM_EXTRA_ARGS=(-device ...) before vm_boot.
_vm_qemu_args() {
	local append="console=ttyS0 intel_iommu=on iommu=pt panic=-1 root=/dev/vda rw $VM_APPEND"
	# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
	VM_QEMU_ARGS=(
		-machine q35 -accel tcg -cpu max -smp "$VM_SMP" -m "$VM_MEM"
		-nodefaults -display none -no-reboot -nic none
		-kernel "$VM_KERNEL" -initrd "$VM_INITRD" -append "$append"
		-pidfile "$VM_RUN/qemu.pid"
		-chardev "file,id=serial0,path=$VM_RUN/serial.log,append=on" -serial chardev:serial0
		-chardev "pipe,id=qmp0,path=$VM_RUN/qmp" -mon chardev=qmp0,mode=control
		-qmp "unix:$VM_RUN/qmp.sock,server=on,wait=off"
		-device intel-iommu,intremap=on
		-drive "if=none,id=root,file=$VM_DISK,format=raw,cache=unsafe"
		-device virtio-blk-pci,drive=root,bus=pcie.0,addr=0x3
		-device virtio-serial-pci,id=vser,bus=pcie.0,addr=0x4
		-chardev "pipe,id=agent0,path=$VM_RUN/agent"
		-device virtserialport,bus=vser.0,chardev=agent0,name=org.vfpt.agent
		-netdev user,id=nic1,restrict=on -netdev user,id=nic2,restrict=on
		-netdev user,id=nic3,restrict=on -netdev user,id=nic4,restrict=on
		-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x10
		-device e1000e,bus=rp1,netdev=nic1,mac=52:54:00:00:00:01
		-device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x11
		-device e1000e,bus=rp2,netdev=nic2,mac=52:54:00:00:00:02
		-device pcie-root-port,id=rp3,chassis=3,slot=3,bus=pcie.0,addr=0x12
		-device qemu-xhci,bus=rp3
		-device pcie-root-port,id=rp4,chassis=4,slot=4,bus=pcie.0,addr=0x13
		-device pcie-pci-bridge,id=br4,bus=rp4
		-device e1000,bus=br4,addr=0x1,netdev=nic3,mac=52:54:00:00:00:03
		-device rtl8139,bus=br4,addr=0x2,netdev=nic4,mac=52:54:00:00:00:04
		-device pcie-root-port,id=rp5,chassis=5,slot=5,bus=pcie.0,addr=0x14
		-device pcie-root-port,id=rp6,chassis=6,slot=6,bus=pcie.0,addr=0x15
		"${VM_EXTRA_ARGS[@]}"
	)
}

# _vm_readline FD DEADLINE — one line into VM_LINE; 1 on timeout, 2 when QEMU
# is gone.  Reads in 1 s steps so that a dead QEMU is noticed.
_vm_readline() {
	local fd=$1 deadline=$2 part buf=
	while :; do
		if IFS= read -r -t 1 part <&"$fd"; then
			VM_LINE=$buf$part
			return 0
		fi
		buf+=$part
		if ! vm_alive; then
			VM_LINE=$buf
			return 2
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			VM_LINE=$buf
			return 1
		fi
	done
}

# vm_boot — start the guest and wait until systemd has finished booting.
vm_boot() {
	[ -n "$VM_DISK" ] || vm_fail "vm_boot without vm_disk_new"
	vm_alive && vm_fail "vm_boot: the guest is already running"
	VM_BOOTS=$((VM_BOOTS + 1))
	local f deadline state rc
	for f in agent qmp; do
		rm -f "$VM_RUN/$f.in" "$VM_RUN/$f.out"
		mkfifo "$VM_RUN/$f.in" "$VM_RUN/$f.out"
	done
	exec {VM_AGENT_W}<>"$VM_RUN/agent.in" {VM_AGENT_R}<>"$VM_RUN/agent.out"
	exec {VM_QMP_W}<>"$VM_RUN/qmp.in" {VM_QMP_R}<>"$VM_RUN/qmp.out"
	printf '\n===== vfpt-vm: boot %d of %s (%s) =====\n' "$VM_BOOTS" "$VM_NAME" "$(date -u +%FT%TZ)" >>"$VM_RUN/serial.log"
	_vm_qemu_args
	rm -f "$VM_RUN/qemu.pid"
	printf '%q ' qemu-system-x86_64 "${VM_QEMU_ARGS[@]}" >"$VM_RUN/qemu.cmdline"
	timeout --kill-after=5 "$VM_QEMU_TIMEOUT" qemu-system-x86_64 "${VM_QEMU_ARGS[@]}" \
		</dev/null >>"$VM_RUN/qemu.log" 2>&1 &
	VM_PID=$!
	VM_BOOT_STARTED=$SECONDS
	vm_log "boot $VM_BOOTS: QEMU started (timeout pid $VM_PID)"
	deadline=$((SECONDS + VM_BOOT_TIMEOUT))
	vm_qmp '{"execute":"qmp_capabilities"}' >/dev/null || vm_fail "QMP did not answer"
	while :; do
		_vm_readline "$VM_AGENT_R" "$deadline"
		rc=$?
		# Under TCG on a loaded host the guest kernel's early timer check
		# through the interrupt-remapped IO-APIC can fail and panic: not
		# what is tested here, so boot once more.
		if [ "$rc" = 2 ] && [ "${VM_BOOT_RETRIED:-0}" = 0 ] &&
			tail -n 300 "$VM_RUN/serial.log" | grep "Kernel panic - not syncing: timer doesn't work" >/dev/null; then
			vm_log "boot $VM_BOOTS: the guest kernel panicked in its timer check (TCG, loaded host); booting once more"
			wait "$VM_PID" 2>/dev/null
			exec {VM_AGENT_W}>&- {VM_AGENT_R}>&- {VM_QMP_W}>&- {VM_QMP_R}>&-
			VM_BOOTS=$((VM_BOOTS - 1))
			VM_BOOT_RETRIED=1
			vm_boot
			VM_BOOT_RETRIED=0
			return
		fi
		[ "$rc" = 0 ] ||
			vm_fail "boot $VM_BOOTS: the guest agent did not start within ${VM_BOOT_TIMEOUT}s$(vm_alive || echo ' (QEMU exited)')"
		[ "$VM_LINE" = "@@VFPT-AGENT-READY@@" ] && break
	done
	vm_log "boot $VM_BOOTS: agent up after $((SECONDS - VM_BOOT_STARTED)) s"
	state=$(vm_run systemctl is-system-running --wait)
	case "$state" in
	running) ;;
	degraded) vm_log "boot $VM_BOOTS: system degraded: $(vm_run systemctl --failed --no-legend --plain | tr '\n' ' ')" ;;
	*) vm_fail "boot $VM_BOOTS: system state '$state'" ;;
	esac
	VM_BOOT_TIME=$((SECONDS - VM_BOOT_STARTED))
	vm_log "boot $VM_BOOTS: $state after $VM_BOOT_TIME s"
}

# vm_run CMD... — run CMD (joined with spaces, as bash -c) in the guest;
# prints its combined stdout/stderr and returns its exit status, 255 when
# the channel failed.  VM_RUN_TIMEOUT bounds the wait.
vm_run() {
	local cmd=$* id out='' rc deadline
	vm_alive || { echo "vm_run: guest not running" >&2; return 255; }
	id=$RANDOM$RANDOM
	deadline=$((SECONDS + VM_RUN_TIMEOUT))
	printf '%s %s\n' "$id" "$(printf '%s' "$cmd" | base64 -w0)" >&"$VM_AGENT_W"
	while _vm_readline "$VM_AGENT_R" "$deadline"; do
		case "$VM_LINE" in
		"@@VFPT-END $id "*)
			rc=${VM_LINE#"@@VFPT-END $id "}
			rc=${rc%@@}
			printf '%s' "$out"
			return "$rc"
			;;
		"@@VFPT-END "* | "@@VFPT-AGENT-READY@@") out= ;; # answer to an abandoned command
		*) out+=$VM_LINE$'\n' ;;
		esac
	done
	printf '%s' "$out"
	echo "vm_run: no answer within ${VM_RUN_TIMEOUT}s to: $cmd" >&2
	return 255
}

# vm_qmp JSON — send one QMP command, print the reply; 1 on an error reply.
# Events that arrive meanwhile are appended to $VM_RUN/qmp-events.log.
vm_qmp() {
	local deadline=$((SECONDS + 60))
	vm_alive || { echo "vm_qmp: guest not running" >&2; return 255; }
	printf '%s\n' "$1" >&"$VM_QMP_W"
	while _vm_readline "$VM_QMP_R" "$deadline"; do
		case "$VM_LINE" in
		*'"return"'*) printf '%s\n' "$VM_LINE"; return 0 ;;
		*'"error"'*) printf '%s\n' "$VM_LINE"; return 1 ;;
		*'"event"'*) printf '%s\n' "$VM_LINE" >>"$VM_RUN/qmp-events.log" ;;
		esac
	done
	echo "vm_qmp: no answer to $1" >&2
	return 255
}

# vm_wait_exit SECONDS — wait for QEMU to exit.
vm_wait_exit() {
	local deadline=$((SECONDS + $1))
	while vm_alive; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.5
	done
	wait "$VM_PID" 2>/dev/null
	return 0
}

_vm_close() {
	{ exec {VM_AGENT_W}>&- {VM_AGENT_R}>&- {VM_QMP_W}>&- {VM_QMP_R}>&-; } 2>/dev/null
	VM_PID=
}

_vm_kill() {
	local qpid
	if vm_alive; then
		kill "$VM_PID" 2>/dev/null
		vm_wait_exit 10 || kill -9 "$VM_PID" 2>/dev/null
	fi
	# timeout(1) forwards the signal; the pidfile catches a QEMU that got away.
	qpid=$(cat "$VM_RUN/qemu.pid" 2>/dev/null)
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null && grep -q qemu "/proc/$qpid/comm" 2>/dev/null; then
		kill -9 "$qpid" 2>/dev/null
	fi
	[ -n "$VM_PID" ] && _vm_close
}

# vm_poweroff — shut the guest down cleanly and wait for QEMU to exit.
vm_poweroff() {
	vm_alive || return 0
	vm_run 'systemctl --no-block poweroff' >/dev/null
	vm_wait_exit 120 || vm_fail "the guest did not power off within 120 s"
	_vm_close
	vm_log "powered off"
}

# vm_reboot — power off and boot the same disk again (QEMU runs -no-reboot).
vm_reboot() {
	vm_poweroff
	vm_boot
}

# --- guest PCI helpers (thin wrappers around guest/vfpt-test-pci) ---------

vm_pci() { vm_run vfpt-test-pci "$@"; }

# vm_pci_one WHAT ARGS... — exactly one address, or fail.
vm_pci_one() {
	local out n
	out=$(vm_run vfpt-test-pci "$@") || vm_fail "vfpt-test-pci $*: $out"
	n=$(printf '%s\n' "$out" | grep -c .)
	[ "$n" = 1 ] || vm_fail "vfpt-test-pci $* gave $n addresses, expected 1: $out"
	printf '%s\n' "$out"
}

# vm_addr_in_slot SLOT — the endpoint in the root port with that slot number.
vm_addr_in_slot() {
	local port
	port=$(vm_pci_one port "$1") || exit 1
	vm_pci_one under "$port"
}

vm_driver() { vm_run vfpt-test-pci driver "$1"; }

# assert_driver BDF DRIVER [WHAT] — BDF is bound to DRIVER ("none": unbound).
assert_driver() {
	assert_eq "${3:-$1} is on ${2}" "$2" "$(vm_driver "$1")"
}

# vm_bridge_endpoints SLOT — the pcie-pci-bridge in root port SLOT and the
# endpoints behind it: sets VM_BRIDGE and VM_BEHIND (array).
vm_bridge_endpoints() {
	local port ids
	port=$(vm_pci_one port "$1") || exit 1
	VM_BRIDGE=$(vm_pci_one under "$port") || exit 1
	ids=$(vm_run "cat /sys/bus/pci/devices/$VM_BRIDGE/vendor /sys/bus/pci/devices/$VM_BRIDGE/device | tr '\n' ' '")
	[ "$ids" = "0x1b36 0x000e " ] || vm_fail "slot $1 holds $VM_BRIDGE ($ids), not the pcie-pci-bridge"
	mapfile -t VM_BEHIND < <(vm_run vfpt-test-pci under "$VM_BRIDGE")
	[ "${#VM_BEHIND[@]}" = 2 ] || vm_fail "expected 2 devices behind the bridge, found: ${VM_BEHIND[*]}"
}

# vm_find_one VID:DID — the only device with these IDs.
vm_find_one() { vm_pci_one find "$1"; }

# vm_status — vfptd's STATUS= line as systemd shows it.
vm_status() {
	vm_run systemctl show -p StatusText --value vfptd.service
}

# vm_conf_live NAME LINE... — write /etc/vfpt.d/NAME.conf in the running guest.
vm_conf_live() {
	local name=$1 body
	shift
	body=$(printf '%s\n' "$@")
	vm_run "mkdir -p /etc/vfpt.d && cat >/etc/vfpt.d/$name.conf <<'VFPT_EOF'
$body
VFPT_EOF" >/dev/null || vm_fail "cannot write /etc/vfpt.d/$name.conf in the guest"
}

# vm_journal_vfptd — this boot's journal of vfptd.
vm_journal_vfptd() { vm_run journalctl -b -u vfptd --no-pager -o cat; }

# --- helpers for the later scenarios (polling, time, journal windows) -------

# vm_wait_guest SECONDS CONDITION... — poll the shell CONDITION in the guest
# every 50 ms until it holds; 1 when SECONDS pass first.
vm_wait_guest() {
	local secs=$1
	shift
	vm_run "end=\$((SECONDS + $secs)); until $*; do [ \$SECONDS -ge \$end ] && exit 1; sleep 0.05; done" >/dev/null
}

# vm_wait_driver BDF DRIVER SECONDS — wait until BDF is bound to DRIVER
# ("none": unbound); 1 on timeout.
vm_wait_driver() {
	vm_wait_guest "$3" "[ \"\$(vfpt-test-pci driver $1)\" = '$2' ]"
}

# vm_uptime — the guest's CLOCK_BOOTTIME in seconds (/proc/uptime, 10 ms).
vm_uptime() { vm_run 'read -r up _ </proc/uptime; echo $up'; }

# vm_port_child PORT — the address a device plugged into the (empty) root
# port PORT will get: function 0 of the port's secondary bus.
vm_port_child() {
	local bus
	bus=$(vm_run "ls /sys/bus/pci/devices/$1/pci_bus/") || vm_fail "no secondary bus under $1: $bus"
	[ -n "$bus" ] || vm_fail "no secondary bus under $1"
	printf '%s:00.0\n' "$bus"
}

# vm_journal_cursor — where the guest's journal is now, for vm_journal_after:
# its monotonic clock (journalctl's --after-cursor with a cursor taken from
# "-n 1" missed entries under load, so a time is used instead).
vm_journal_cursor() {
	vm_run "cut -d' ' -f1 /proc/uptime"
}

# vm_journal_after CURSOR [JOURNALCTL-ARGS...] — the journal (kernel and
# services, monotonic time stamps) written after CURSOR.
vm_journal_after() {
	local c=$1
	shift
	vm_run "journalctl -b --no-pager -o short-monotonic $* | awk -v c='$c' '{ t = \$0; sub(/^\\[ */, \"\", t); sub(/\\].*/, \"\", t); if (t + 0 > c + 0) print }'"
}

# vm_ms FROM TO — the milliseconds between two times in seconds (decimals).
vm_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d\n", (b - a) * 1000 + (b >= a ? 0.5 : -0.5) }'; }

# vm_kill_shim — vfptd.service reloads with `ExecReload=kill -HUP $MAINPID`,
# and systemd needs a kill(1) executable for that (procps); a minbase guest
# without procps fails `systemctl reload vfptd` with status=203/EXEC.  When
# the guest has no kill executable, put a shim (bash's builtin kill) in
# /usr/local/bin and say so; a no-op once the base has procps.
vm_kill_shim() {
	if vm_run 'type -P kill' >/dev/null; then
		return 0
	fi
	vm_log "WARNING: the guest has no kill(1) executable (procps is not in the base); installing a shim so that systemctl reload vfptd can run"
	vm_run "printf '%s\n' '#!/bin/bash' '# test shim: procps kill(1) is not installed' 'kill \"\$@\"' >/usr/local/bin/kill && chmod 0755 /usr/local/bin/kill" >/dev/null ||
		vm_fail "cannot install the kill shim"
}

# vm_pci_state — every PCI device's driver and driver_override, one line
# each, cheap enough to compare before and after (globs and builtins; the
# per-device forks of `vfpt-test-pci table` are slow under TCG).
vm_pci_state() {
	vm_run 'for d in /sys/bus/pci/devices/*; do
	drv=none; for l in /sys/bus/pci/drivers/*/${d##*/}; do [ -e "$l" ] && { drv=${l%/*}; drv=${drv##*/}; }; done
	read -r o <"$d/driver_override"; echo "${d##*/} driver=$drv override=$o"
done'
}
