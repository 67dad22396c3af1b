#!/bin/bash
# test-dracut-module.sh MODULE-SETUP MODDIR BASE — the dracut module's
# module-setup.sh (configured for this test: vfptd, vfpt-modload, the
# switch and the state directory under BASE) against stand-ins for dracut's
# functions and for vfptd. No dracut needed; nothing outside BASE is
# touched. MODDIR holds the configured vfpt-claim.sh and
# vfpt-initramfs.service.
#   - off: the stale copy goes, nothing is installed, no module;
#   - on, systemd in the initramfs: vfptd, vfpt-modload, the drop-ins
#     --list-config-files names, the unit (enabled) and the script; the copy
#     holds exactly those drop-ins; the vfio modules and
#     VFPT_INITRAMFS_MODULES;
#   - on, dracut's own init: the cmdline hook 00 instead of the unit;
#   - a drop-in with errors (status 1): warnings, still packed;
#   - vfptd failing, vfpt-modload missing, a module missing: dracut fails,
#     saying why, and the copy stays as it was.
# shellcheck disable=SC2317,SC2012,SC2034 # stand-ins and variables for the sourced module; ls of plain names
set -uo pipefail

setup=${1:?usage: test-dracut-module.sh MODULE-SETUP MODDIR BASE}
moddir_in=${2:?usage: test-dracut-module.sh MODULE-SETUP MODDIR BASE}
base=${3:?usage: test-dracut-module.sh MODULE-SETUP MODDIR BASE}
case "$base" in
*/dracut-module-test) ;;
*) echo "refusing BASE $base (must end in /dracut-module-test)" >&2; exit 1 ;;
esac
kver=6.1.0-test

failed=0
ok() { printf 'ok - %s\n' "$1"; }
not_ok() { printf 'not ok - %s\n' "$1"; failed=1; }
check() { # DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
not() { ! "$@"; }
has_line() { grep -qxF -- "$2" "$1" 2>/dev/null; }
has_match() { grep -qE -- "$2" "$1" 2>/dev/null; }

# A fresh tree: the stand-in vfptd prints $STUB_FILES (one a line) and
# $STUB_ERR on stderr, and exits $STUB_RC.
fresh() {
	rm -rf "$base"
	mkdir -p "$base/bin" "$base/etc/vfpt.d" "$base/state" "$base/initdir"
	cat >"$base/bin/vfptd" <<'EOF'
#!/bin/sh
[ "$1" = --list-config-files ] || { echo "unexpected: $*" >&2; exit 9; }
[ -n "${STUB_ERR:-}" ] && printf '%s\n' "$STUB_ERR" >&2
[ -n "${STUB_FILES:-}" ] && printf '%s\n' "$STUB_FILES"
exit "${STUB_RC:-0}"
EOF
	printf '#!/bin/sh\nexit 0\n' >"$base/bin/vfpt-modload"
	chmod 0755 "$base/bin/vfptd" "$base/bin/vfpt-modload"
	printf '[a]\nids = 8086:10d3\n' >"$base/etc/vfpt.d/10-a.conf"
	printf '[b]\naddresses = 0000:01:00.0\n' >"$base/etc/vfpt.d/20-b.conf"
	# A copy from an earlier run, with a drop-in since removed.
	mkdir -p "$base/state/$kver"
	printf 'old\n' >"$base/state/$kver/30-gone.conf"
	export STUB_FILES="$base/etc/vfpt.d/10-a.conf
$base/etc/vfpt.d/20-b.conf" STUB_ERR='' STUB_RC=0
}

# run FUNCTION [WITH_SYSTEMD] — module-setup.sh's function under the
# stand-ins, in a subshell (dfatal is followed by exit, as in dracut). Its
# status in $rc; what it said in $base/log; the calls in $base/calls.
run() {
	local fn=$1 with_systemd=${2:-1}
	: >"$base/log"
	: >"$base/calls"
	(
		kernel=$kver
		initdir=$base/initdir
		moddir=$moddir_in
		systemdsystemunitdir=/usr/lib/systemd/system
		SYSTEMCTL=stub_systemctl
		hostonly=yes
		dinfo() { echo "I: $*" >>"$base/log"; }
		dwarn() { echo "W: $*" >>"$base/log"; }
		derror() { echo "E: $*" >>"$base/log"; }
		dfatal() { echo "F: $*" >>"$base/log"; }
		_put() { mkdir -p "$initdir$(dirname "$2")" && cp -p "$1" "$initdir$2"; }
		inst_binary() { echo "inst_binary $*" >>"$base/calls"; _put "$1" "$1"; }
		inst_simple() { echo "inst_simple $*" >>"$base/calls"; _put "$1" "${2:-$1}"; }
		inst_dir() { mkdir -p "$initdir$1"; }
		inst_hook() { echo "inst_hook $*" >>"$base/calls"; _put "$3" "/lib/dracut/hooks/$1/$2-${3##*/}"; }
		instmods() {
			echo "instmods hostonly=$hostonly $*" >>"$base/calls"
			return "${STUB_INSTMODS_RC:-0}"
		}
		dracut_module_included() { [ "$1" = systemd ] && [ "$with_systemd" = 1 ]; }
		stub_systemctl() { echo "systemctl $*" >>"$base/calls"; }
		# shellcheck disable=SC1090
		. "$setup"
		"$fn"
	) >>"$base/log" 2>&1
	rc=$?
}

copy_is() { # the copy in the state directory holds exactly these names
	[ "$(cd "$base/state/$kver" 2>/dev/null && ls | paste -sd ' ')" = "$*" ]
}

# --- off ---------------------------------------------------------------------
fresh
printf 'VFPT_INITRAMFS=no\n' >"$base/etc/initramfs.conf"
run check
check "check() includes the module even when off (install() must remove the copy)" [ "$rc" = 0 ]
run install
check "off: install() succeeds" [ "$rc" = 0 ]
check "off: the copy of the drop-ins is removed" [ ! -e "$base/state/$kver" ]
check "off: nothing is installed" [ -z "$(find "$base/initdir" -mindepth 1 -print -quit)" ]
run installkernel
check "off: installkernel() succeeds" [ "$rc" = 0 ]
check "off: installkernel() adds no module" [ ! -s "$base/calls" ]
rm -f "$base/etc/initramfs.conf"
run install
check "no switch file: off" [ ! -s "$base/calls" ]

# --- on, systemd ---------------------------------------------------------------
fresh
printf '# on\nVFPT_INITRAMFS="yes"\nVFPT_INITRAMFS_MODULES="vfio_pci_extra other"\necho noise\n' >"$base/etc/initramfs.conf"
run install 1
check "on: install() succeeds" [ "$rc" = 0 ]
check "on: vfptd installed" has_line "$base/calls" "inst_binary $base/bin/vfptd"
check "on: vfpt-modload installed" has_line "$base/calls" "inst_binary $base/bin/vfpt-modload"
check "on: the drop-ins in /etc/vfpt.d of the initramfs" cmp -s "$base/etc/vfpt.d/20-b.conf" "$base/initdir/etc/vfpt.d/20-b.conf"
check "on: both of them, nothing else" [ "$(ls "$base/initdir/etc/vfpt.d" | paste -sd ' ')" = "10-a.conf 20-b.conf" ]
check "on (systemd): the unit" [ -f "$base/initdir/usr/lib/systemd/system/vfpt-initramfs.service" ]
check "on (systemd): the unit enabled in the initramfs" \
	has_line "$base/calls" "systemctl -q --root $base/initdir enable vfpt-initramfs.service"
claim=$(sed -n 's/^ExecStart=//p' "$moddir_in/vfpt-initramfs.service")
check "on (systemd): the script the unit runs ($claim), executable" [ -x "$base/initdir$claim" ]
check "on (systemd): no cmdline hook" [ ! -d "$base/initdir/lib/dracut/hooks" ]
check "on: the copy holds exactly the packed drop-ins (30-gone.conf went)" copy_is 10-a.conf 20-b.conf
check "on: the copy is byte for byte" cmp -s "$base/etc/vfpt.d/10-a.conf" "$base/state/$kver/10-a.conf"
check "on: dracut is told how many" has_line "$base/log" "I: vfpt: packed 2 drop-in(s) for $kver"
check "on: the switch file's output does not leak" not grep -q noise "$base/log"
run installkernel 1
check "on: installkernel() succeeds" [ "$rc" = 0 ]
check "on: the vfio modules and VFPT_INITRAMFS_MODULES, checked, also when host-only" \
	has_line "$base/calls" "instmods hostonly= -c vfio-pci vfio vfio_iommu_type1 vfio_pci_extra other"

# --- on, dracut's own init ------------------------------------------------------
fresh
printf 'VFPT_INITRAMFS=yes\n' >"$base/etc/initramfs.conf"
run install 0
check "on (no systemd): install() succeeds" [ "$rc" = 0 ]
check "on (no systemd): the cmdline hook 00, before 01-parse-kernel.sh (rd.driver.pre)" \
	[ -f "$base/initdir/lib/dracut/hooks/cmdline/00-vfpt-claim.sh" ]
check "on (no systemd): no unit" [ ! -e "$base/initdir/usr/lib/systemd/system/vfpt-initramfs.service" ]
check "on (no systemd): no systemctl" not has_match "$base/calls" '^systemctl'
# dracut sources its hooks: the script must not leave the sourcing shell.
out=$(sh -c '. "$1"; echo still-here' sh "$base/initdir/lib/dracut/hooks/cmdline/00-vfpt-claim.sh" 2>&1)
check "the hook, sourced, returns to its caller" [ "$(printf '%s\n' "$out" | tail -n1)" = still-here ]

# --- a drop-in with errors ------------------------------------------------------
fresh
printf 'VFPT_INITRAMFS=yes\n' >"$base/etc/initramfs.conf"
STUB_ERR="vfptd: $base/etc/vfpt.d/30-bad.conf:2: unknown key 'idz'" STUB_RC=1 run install
check "errors in a drop-in: install() still succeeds" [ "$rc" = 0 ]
check "errors in a drop-in: dracut warns with file:line" has_match "$base/log" "^W: vfpt: vfptd: .*30-bad.conf:2: unknown key"
check "errors in a drop-in: and says it is skipped at boot" has_match "$base/log" '^W: vfpt: vfptd in the initramfs skips a file with errors'
check "errors in a drop-in: the others are packed" copy_is 10-a.conf 20-b.conf

# --- failures -------------------------------------------------------------------
fresh
printf 'VFPT_INITRAMFS=yes\n' >"$base/etc/initramfs.conf"
STUB_RC=3 run install
check "vfptd failing: dracut fails" [ "$rc" != 0 ]
check "vfptd failing: says so" has_line "$base/log" "F: vfpt: vfptd --list-config-files failed (3)"
check "vfptd failing: the earlier copy stays" copy_is 30-gone.conf

fresh
printf 'VFPT_INITRAMFS=yes\n' >"$base/etc/initramfs.conf"
rm "$base/bin/vfpt-modload"
run install
check "vfpt-modload missing: dracut fails" [ "$rc" != 0 ]
check "vfpt-modload missing: named" has_line "$base/log" \
	"F: vfpt: $base/bin/vfpt-modload is missing; vfptd could not load vfio-pci in the initramfs"
check "vfpt-modload missing: nothing packed" [ ! -e "$base/initdir/etc/vfpt.d" ]

fresh
printf 'VFPT_INITRAMFS=yes\n' >"$base/etc/initramfs.conf"
rm "$base/bin/vfptd"
run install
check "vfptd missing: dracut fails, naming it" has_line "$base/log" \
	"F: vfpt: $base/bin/vfptd is missing; cannot claim devices in the initramfs"

fresh
printf 'VFPT_INITRAMFS=yes\nVFPT_INITRAMFS_MODULES=nosuchmod\n' >"$base/etc/initramfs.conf"
STUB_INSTMODS_RC=1 run installkernel
check "a module missing: installkernel() fails (dracut then stops)" [ "$rc" != 0 ]
check "a module missing: named with the kernel" has_line "$base/log" \
	"E: vfpt: cannot install the modules vfio-pci vfio vfio_iommu_type1 nosuchmod for kernel $kver"

[ "$failed" = 0 ] && rm -rf "$base"
exit "$failed"
