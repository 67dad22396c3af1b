#!/bin/bash
# test-package.sh SRCDIR BUILDDIR — the Debian package, end to end:
#
#  1. build it with dpkg-buildpackage from a copy of the source tree
#     (build-deb.sh; cached per source state under BUILDDIR/package);
#  2. lintian: print its output; fail on any error or warning (deliberate
#     ones are overridden, with the reason, in debian/vfpt.lintian-overrides);
#  3. install it with dpkg in a chroot (a copy of the vm suite's cached
#     Debian 12 base, tests/vm/lib.sh vm_base) and check `dpkg -L vfpt`
#     against what must be shipped, the service enabled the Debian way,
#     no active rule in /etc/vfpt.d;
#  4. remove, then purge, and check that nothing of the package is left:
#     files, the enablement symlink, dpkg's status, runtime state; the
#     administrator's rules stay;
#  5. install and purge once more on a clean tree: the file tree must be as
#     before the install.
#
# Skips (77) when not root or when the packaging tools are missing.
# shellcheck disable=SC2317 # functions called through traps
# shellcheck disable=SC2016 # dpkg-query formats: ${Field} is for dpkg-query
set -uo pipefail

srcdir=$(cd "${1:?usage: test-package.sh SRCDIR BUILDDIR}" && pwd)
builddir=$(cd "${2:?usage: test-package.sh SRCDIR BUILDDIR}" && pwd)

skip() { printf 'SKIP: %s\n' "$*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (dpkg in a chroot)"
for t in dpkg-buildpackage dpkg-checkbuilddeps dh lintian debootstrap apt-cache chroot flock python3 meson; do
	command -v "$t" >/dev/null || skip "$t not found (install the packages in tests/debian-packages.txt)"
done

# vm_base, vm_log, vm_fail and the assertions come from the vm suite's lib.sh.
# shellcheck source=tests/vm/lib.sh
. "$srcdir/tests/vm/lib.sh"
VM_NAME=package
VM_BUILDDIR=$builddir

fail() { vm_fail "$@"; }
ok() { vm_ok "$@"; }

work=$builddir/package
mkdir -p "$work"
root=$work/chroot
cleanup() {
	local rc=$?
	if [ "$rc" = 0 ] || [ "$rc" = 77 ]; then
		rm -rf "$root"
	else
		echo "# kept for inspection: $root" >&2
	fi
}
trap cleanup EXIT

# --- 1. build ---------------------------------------------------------------

out=$("$srcdir/tests/package/build-deb.sh" "$srcdir" "$work") || fail "the package did not build"
deb=$(find "$out" -maxdepth 1 -name 'vfpt_*.deb' | head -n1)
[ -f "$deb" ] || fail "no vfpt_*.deb in $out"
ok "built $(basename "$deb")"
grep -E '^(Ok|Fail|Skipped|Expected Fail|Unexpected Pass|Timeout):' "$out/build.log" | sed 's/^/# build-time tests: /' >&2

meson_version=$(sed -n "s/^[[:space:]]*version[[:space:]]*:[[:space:]]*'\([^']*\)'.*/\1/p" "$out/src/meson.build" | head -n1)
assert_eq "the package version is meson.build's project version" "$meson_version" "$(dpkg-deb -f "$deb" Version)"

# Compiler warnings with Debian's build flags (hardening=+all) count as in
# the project's own builds: none.
warnings=$(grep -E '(warning|error): ' "$out/build.log" | grep -vE '^(dpkg-|dh_|W: )' || true)
assert_eq "no compiler warnings in the package build" "" "$warnings"

# --- 2. lintian ---------------------------------------------------------------

lintian_out=$(lintian --pedantic --display-level '>=pedantic' --tag-display-limit 0 "$deb" 2>&1 |
	grep -v '^running with root privileges is not recommended')
echo "# lintian $(dpkg-query -W -f='${Version}' lintian) on $(basename "$deb"):" >&2
printf '%s\n' "${lintian_out:-(no tags)}" | sed 's/^/#   | /' >&2
# A tag that is not a mistake is overridden in debian/vfpt.lintian-overrides,
# with the reason; none may come in silently.
bad=$(printf '%s\n' "$lintian_out" | grep -E '^[EW]: ' || true)
assert_eq "lintian: no errors or warnings" "" "$bad"

# --- 3. install in a chroot ---------------------------------------------------

base=$(vm_base) || fail "no base rootfs"
rm -rf "$root"
cp -a --reflink=auto "$base/rootfs" "$root" || fail "cannot copy $base/rootfs"
snapshot() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \) -prune \
		-o -printf '%y %p\n' | sort)
}
snapshot >"$work/tree-before"
incr() { chroot "$root" "$@"; }

cp "$deb" "$root/tmp/vfpt.deb"
incr dpkg -i /tmp/vfpt.deb >"$work/dpkg-install.log" 2>&1 ||
	{ cat "$work/dpkg-install.log" >&2; fail "dpkg -i failed in the chroot"; }
ok "dpkg -i vfpt in a Debian 12 chroot"
assert_eq "dpkg says it is installed" "install ok installed" "$(incr dpkg-query -W -f='${Status}' vfpt)"

listing=$(incr dpkg -L vfpt)
printf '%s\n' "$listing" | sed 's/^/# dpkg -L: /' >&2

# What must be shipped, whatever else the build adds.
must_ship=(
	/usr/sbin/vfptd
	/usr/bin/vfptctl
	/usr/libexec/vfpt-modload
	/lib/systemd/system/vfptd.service
	/usr/share/dbus-1/system.d/org.vfpt1.conf
	/usr/share/dbus-1/interfaces/org.vfpt1.Manager.xml
	/usr/share/dbus-1/interfaces/org.vfpt1.Device.xml
	/usr/share/man/man8/vfptd.8.gz
	/usr/share/man/man8/vfptctl.8.gz
	/usr/share/man/man5/vfpt.d.5.gz
	/usr/share/man/man5/org.vfpt1.5.gz
	/usr/share/bash-completion/completions/vfptctl
	/usr/share/doc/vfpt/examples/usb-controller.conf
	/usr/share/doc/vfpt/examples/gpu-with-audio.conf
	/usr/share/doc/vfpt/examples/one-of-two-nics.conf
	/usr/share/doc/vfpt/copyright
	/usr/share/doc/vfpt/changelog.gz
	/usr/share/doc/vfpt/README.Debian
	/usr/share/initramfs-tools/hooks/vfpt
	/usr/share/initramfs-tools/scripts/init-top/claim-vfpt
	/usr/lib/dracut/modules.d/90vfpt/module-setup.sh
	/usr/lib/dracut/modules.d/90vfpt/vfpt-claim.sh
	/usr/lib/dracut/modules.d/90vfpt/vfpt-initramfs.service
	/etc/vfpt/initramfs.conf
	/etc/vfpt.d
)
# A page for every doc/NAME.SECTION.scd, also one added later.
for scd in "$srcdir"/doc/*.scd; do
	[ -f "$scd" ] || continue
	page=$(basename "$scd" .scd)
	page=/usr/share/man/man${page##*.}/$page.gz
	[[ " ${must_ship[*]} " == *" $page "* ]] || must_ship+=("$page")
done
missing=()
for f in "${must_ship[@]}"; do
	printf '%s\n' "$listing" | grep -qxF "$f" || missing+=("$f")
done
assert_eq "dpkg -L vfpt lists all ${#must_ship[@]} files that must be shipped" "" "${missing[*]}"

# Everything the package's own meson build installs is in the package (man
# pages compressed, the unit moved to /lib for Debian 12).
installed=$(meson introspect --installed "$out"/src/obj-*/ |
	python3 -c 'import json, sys; print("\n".join(sorted(json.load(sys.stdin).values())))') ||
	fail "meson introspect --installed on the package build failed"
[ -n "$installed" ] || fail "meson introspect --installed listed nothing"
missing=()
n=0
while IFS= read -r f; do
	n=$((n + 1))
	case "$f" in
	/usr/lib/systemd/system/*) f=/lib/systemd/system/${f#/usr/lib/systemd/system/} ;;
	esac
	printf '%s\n' "$listing" | grep -qxF -e "$f" -e "$f.gz" || missing+=("$f")
done <<<"$installed"
assert_eq "dpkg -L vfpt has all $n files meson installs" "" "${missing[*]}"

assert_eq "vfptd runs in the chroot" "vfptd $meson_version" "$(incr vfptd --version 2>&1 | head -n1)"
assert_eq "vfptctl runs in the chroot" "vfptctl $meson_version" "$(incr vfptctl --version 2>&1 | head -n1)"

# Enabled the Debian way (dh_installsystemd's postinst, deb-systemd-helper).
link=$root/etc/systemd/system/sysinit.target.wants/vfptd.service
assert_eq "postinst enabled vfptd.service (sysinit.target.wants symlink)" \
	/lib/systemd/system/vfptd.service "$(readlink "$link")"
assert_eq "systemctl is-enabled vfptd (in the chroot)" enabled "$(incr systemctl is-enabled vfptd.service 2>&1)"

assert_eq "/etc/vfpt.d is there, as a directory" yes "$([ -d "$root/etc/vfpt.d" ] && echo yes)"
assert_eq "no active rule in /etc/vfpt.d" "" "$(find "$root/etc/vfpt.d" -mindepth 1 -print)"
# One conffile, the initramfs claim's switch, shipped off; no rule.
assert_eq "the one conffile is the initramfs switch" "/etc/vfpt/initramfs.conf" \
	"$(incr dpkg-query -W -f='${Conffiles}\n' vfpt | awk 'NF { print $1 }')"
assert_eq "it ships the initramfs claim disabled" "VFPT_INITRAMFS=no" "$(grep -E '^VFPT_INITRAMFS=' "$root/etc/vfpt/initramfs.conf")"
assert_eq "nothing under /etc but /etc/vfpt.d (empty) and the initramfs switch" \
	"/etc/vfpt"$'\n'"/etc/vfpt.d"$'\n'"/etc/vfpt/initramfs.conf" "$(printf '%s\n' "$listing" | grep '^/etc/' | LC_ALL=C sort)"

# --- 4. remove, then purge ----------------------------------------------------

# The administrator's rule, a record of an original driver, a runtime claim.
printf '[admin]\nids = 8086:10d3\n' >"$root/etc/vfpt.d/50-admin.conf"
mkdir -p "$root/run/vfptd" "$root/run/vfpt.d" "$root/var/lib/vfpt/initramfs/6.1.0-test"
echo e1000e >"$root/run/vfptd/0000:01:00.0"
echo '[nic]' >"$root/var/lib/vfpt/initramfs/6.1.0-test/50-nic.conf" # what the initramfs hook keeps
printf '[runtime]\naddresses = 0000:02:00.0\n' >"$root/run/vfpt.d/90-runtime.conf"

incr dpkg -r vfpt >"$work/dpkg-remove.log" 2>&1 ||
	{ cat "$work/dpkg-remove.log" >&2; fail "dpkg -r failed"; }
assert_eq "after remove: dpkg keeps only its config state" "deinstall ok config-files" \
	"$(incr dpkg-query -W -f='${Status}' vfpt)"
for f in /usr/sbin/vfptd /usr/bin/vfptctl /lib/systemd/system/vfptd.service /usr/share/dbus-1/system.d/org.vfpt1.conf; do
	[ -e "$root$f" ] && fail "after remove: $f is still there"
done
ok "after remove: daemon, CLI, unit and D-Bus policy are gone"
assert_eq "after remove: the administrator's rule stays" yes "$([ -f "$root/etc/vfpt.d/50-admin.conf" ] && echo yes)"
assert_eq "after remove: /run/vfptd records stay (a reinstall still knows the original drivers)" yes \
	"$([ -f "$root/run/vfptd/0000:01:00.0" ] && echo yes)"

incr dpkg -P vfpt >"$work/dpkg-purge.log" 2>&1 ||
	{ cat "$work/dpkg-purge.log" >&2; fail "dpkg -P failed"; }
assert_eq "after purge: dpkg knows nothing of vfpt" "" "$(incr dpkg-query -W -f='${Status}' vfpt 2>/dev/null | grep -v 'not-installed')"
assert_eq "after purge: the enablement symlink is gone" no "$([ -e "$link" ] || [ -L "$link" ] && echo yes || echo no)"
assert_eq "after purge: /run/vfptd and /run/vfpt.d are gone" no \
	"$([ -e "$root/run/vfptd" ] || [ -e "$root/run/vfpt.d" ] && echo yes || echo no)"
assert_eq "after purge: the initramfs hook's copies (/var/lib/vfpt) are gone" no \
	"$([ -e "$root/var/lib/vfpt" ] && echo yes || echo no)"
assert_eq "after purge: the initramfs switch (/etc/vfpt) is gone" no \
	"$([ -e "$root/etc/vfpt" ] && echo yes || echo no)"
assert_eq "after purge: the administrator's rule stays" yes "$([ -f "$root/etc/vfpt.d/50-admin.conf" ] && echo yes)"
rm -f "$root/etc/vfpt.d/50-admin.conf"
rmdir "$root/etc/vfpt.d"

# dpkg's own journal and database backups change with any install; nothing
# else may.
bookkeeping='^[<>] [a-z] \./var/(log/dpkg\.log|log/alternatives\.log|lib/dpkg/(status-old|available-old|diversions-old|statoverride-old|triggers/.*))$'
tree_diff() {
	snapshot >"$work/tree-after"
	diff "$work/tree-before" "$work/tree-after" | grep -E '^[<>] ' | grep -vE "$bookkeeping" || true
}
assert_eq "after remove + purge: the file tree is as before the install" "" "$(tree_diff)"

# --- 5. install and purge on a clean tree ---------------------------------

incr dpkg -i /tmp/vfpt.deb >"$work/dpkg-install2.log" 2>&1 ||
	{ cat "$work/dpkg-install2.log" >&2; fail "the second dpkg -i failed"; }
incr dpkg -P vfpt >"$work/dpkg-purge2.log" 2>&1 ||
	{ cat "$work/dpkg-purge2.log" >&2; fail "dpkg -P (from installed) failed"; }
assert_eq "after install + purge: /etc/vfpt.d removed by dpkg (empty)" no "$([ -e "$root/etc/vfpt.d" ] && echo yes || echo no)"
assert_eq "after install + purge: the file tree is as before the install" "" "$(tree_diff)"

echo "# package test passed" >&2
