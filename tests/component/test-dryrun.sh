#!/bin/bash
# test-dryrun.sh — `vfptd --dry-run` against a fake sysfs tree: one plan line
# per matched device (address, vendor:device, group, current driver, target
# driver, rule, then the state and its steps or reason), a summary line, and
# not one byte of the tree, the fake /proc or the records changed.
#
# usage: test-dryrun.sh VFPTD MKFAKESYSFS
set -eu

VFPTD=${1:?usage: $0 VFPTD MKFAKESYSFS}
MKFAKESYSFS=${2:?usage: $0 VFPTD MKFAKESYSFS}

W=$(mktemp -d "${TMPDIR:-/tmp}/vfpt-dryrun-XXXXXX")
trap 'rm -rf -- "$W"' EXIT
failures=0

fail() {
        echo "FAIL: $*" >&2
        failures=$((failures + 1))
}

# Everything that could change: names, types, modes, sizes, mtimes (to the
# nanosecond: a write of identical content still shows), link targets, and
# file contents.
state() {
        (cd "$1" && find . -printf '%p %y %m %s %T@ %l\n' | LC_ALL=C sort &&
                find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

expect_line() { # description, extended regex
        if ! grep -Eq -- "$2" "$W/out"; then
                fail "$1: no line matches /$2/"
        fi
}

expect_no_line() {
        if grep -Eq -- "$2" "$W/out"; then
                fail "$1: a line matches /$2/: $(grep -E -- "$2" "$W/out")"
        fi
}

# --- a machine with an IOMMU ---------------------------------------------
"$MKFAKESYSFS" "$W/sys" <<'EOF'
driver vfio-pci
# group 7: a root port with a NIC and a USB controller behind it
device 0000:00:1c.0 vendor=8086 device=a110 group=7 driver=pcieport bridge
device 0000:01:00.0 vendor=8086 device=10d3 class=020000 group=7 driver=e1000e parent=0000:00:1c.0
device 0000:01:00.1 vendor=1b21 device=1242 class=0c0330 group=7 driver=xhci_hcd parent=0000:00:1c.0
# group 1: the host's graphics; no rule names it
device 0000:00:02.0 vendor=1234 device=1111 class=030000 group=1 driver=bochs-drm boot_vga
# group 3: the host's disk controller, its root filesystem mounted
device 0000:00:1f.2 vendor=8086 device=2922 class=010601 group=3 driver=ahci
block 0000:00:1f.2 vdz 252:0
partition vdz vdz1 252:1
# group 4: the host's NIC, up
device 0000:00:19.0 vendor=8086 device=153a class=020000 group=4 driver=e1000e
net 0000:00:19.0 eth9 up
# group 5: already claimed, nothing to do
device 0000:02:00.0 vendor=10de device=1eb8 class=030200 group=5 driver=vfio-pci override=vfio-pci host=nouveau
EOF

mkdir -p "$W/proc/self" "$W/conf" "$W/run"
printf '22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vdz1 rw\n' >"$W/proc/self/mountinfo"
printf 'Filename\tType\tSize\tUsed\tPriority\n' >"$W/proc/swaps"
mkdir -p "$W/proc/net"
printf 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' >"$W/proc/net/route"
printf 'eth9\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' >>"$W/proc/net/route"
: >"$W/proc/net/ipv6_route"
: >"$W/proc/net/if_inet6"
cat >"$W/conf/10-nic.conf" <<'EOF'
[nic]
ids = 8086:10d3

[port]
addresses = 0000:00:1c.0
EOF
cat >"$W/conf/20-host.conf" <<'EOF'
[disk]
ids = 8086:2922

[hostnic]
ids = 8086:153a

[gpu]
ids = 10de:1eb8

[gone]
addresses = 0000:05:00.0
EOF

state "$W/sys" >"$W/sys.before"
state "$W/proc" >"$W/proc.before"

rc=0
"$VFPTD" --dry-run --sysfs-root "$W/sys" --config-dir "$W/conf" --proc-root "$W/proc" \
        --records-dir "$W/run/vfptd/devices" >"$W/out" 2>"$W/err" || rc=$?
echo "--- plan:"; cat "$W/out"; echo "--- stderr:"; cat "$W/err"; echo "---"
[ "$rc" -eq 0 ] || fail "vfptd --dry-run exited $rc"

name='( name="[^"]*")?'
expect_line "the matched NIC is claimed by its rule" \
        "^0000:01:00\.0 8086:10d3 group=7 driver=e1000e target=vfio-pci rule=nic$name claim(:|\$)"
expect_line "the NIC's claim names its steps" \
        "^0000:01:00\.0 .* claim: .*override vfio-pci.*unbind e1000e"
expect_line "the unmatched USB controller is pulled in by its group" \
        "^0000:01:00\.1 1b21:1242 group=7 driver=xhci_hcd target=vfio-pci rule=\(group\) via=nic$name claim(:|\$)"
expect_line "a rule naming the bridge is refused, saying why" \
        "^0000:00:1c\.0 8086:a110 group=7 driver=pcieport target=vfio-pci rule=port$name refused: .*bridge"
expect_line "the disk controller behind a mounted filesystem is refused" \
        "^0000:00:1f\.2 8086:2922 group=3 driver=ahci target=vfio-pci rule=disk$name refused: .*in use"
expect_line "the refusal of the disk controller names the rule" \
        "^0000:00:1f\.2 .*refused: .*'disk'"
expect_line "the host's NIC that is up is refused" \
        "^0000:00:19\.0 8086:153a group=4 driver=e1000e target=vfio-pci rule=hostnic$name refused: .*in use"
expect_line "a device already on vfio-pci is claimed, with nothing to do" \
        "^0000:02:00\.0 10de:1eb8 group=5 driver=vfio-pci target=vfio-pci rule=gpu$name claimed\$"
expect_line "a rule naming a missing address reports it absent" \
        "^0000:05:00\.0 .* rule=gone.* absent"
expect_no_line "a device no rule names gets no line" "^0000:00:02\.0 "
expect_no_line "nothing is claimed in the refused groups" "^0000:00:(1f\.2|19\.0) .* claim(:|\$)"

n=$(grep -Ec '^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] ' "$W/out" || true)
[ "$n" -eq 7 ] || fail "expected 7 device lines, got $n"
n=$(grep -c '^summary: ' "$W/out" || true)
[ "$n" -eq 1 ] || fail "expected one summary line, got $n"
tail -n 1 "$W/out" | grep -q '^summary: ' || fail "the summary is not the last line"
expect_line "the summary counts the refusals and the absent device" '^summary: .*1 absent'
expect_line "the summary counts refused devices" '^summary: .*[1-9][0-9]* refused'

state "$W/sys" >"$W/sys.after"
state "$W/proc" >"$W/proc.after"
cmp -s "$W/sys.before" "$W/sys.after" || { fail "--dry-run changed the sysfs tree:"; diff "$W/sys.before" "$W/sys.after" >&2 || true; }
cmp -s "$W/proc.before" "$W/proc.after" || fail "--dry-run changed the fake /proc"
[ -z "$(ls -A "$W/run")" ] || fail "--dry-run wrote records: $(find "$W/run")"

# --- the same machine without an IOMMU -----------------------------------
"$MKFAKESYSFS" "$W/sys-noiommu" <<'EOF'
iommu off
driver vfio-pci
device 0000:00:1c.0 vendor=8086 device=a110 driver=pcieport bridge
device 0000:01:00.0 vendor=8086 device=10d3 class=020000 driver=e1000e parent=0000:00:1c.0
EOF
state "$W/sys-noiommu" >"$W/noiommu.before"
rc=0
"$VFPTD" --dry-run --sysfs-root "$W/sys-noiommu" --config-dir "$W/conf" --proc-root "$W/proc" \
        --records-dir "$W/run/vfptd/devices" >"$W/out" 2>"$W/err" || rc=$?
echo "--- plan without IOMMU:"; cat "$W/out"; echo "---"
[ "$rc" -eq 0 ] || fail "vfptd --dry-run without IOMMU exited $rc"
expect_line "without an IOMMU the plan says so" "IOMMU"
expect_line "without an IOMMU the NIC is refused" \
        "^0000:01:00\.0 8086:10d3 group=- driver=e1000e target=vfio-pci rule=nic$name refused: .*IOMMU"
expect_no_line "without an IOMMU nothing is claimed" " claim(:|\$)"
state "$W/sys-noiommu" >"$W/noiommu.after"
cmp -s "$W/noiommu.before" "$W/noiommu.after" || fail "--dry-run changed the tree without IOMMU"

# --- a configuration with an error ---------------------------------------
mkdir -p "$W/badconf"
printf '[broken]\nids = zzzz:1\n' >"$W/badconf/30-bad.conf"
cp "$W/conf/10-nic.conf" "$W/badconf/"
rc=0
"$VFPTD" --dry-run --sysfs-root "$W/sys" --config-dir "$W/badconf" --proc-root "$W/proc" \
        --records-dir "$W/run/vfptd/devices" >"$W/out" 2>"$W/err" || rc=$?
echo "--- plan with a bad file:"; cat "$W/out"; echo "--- stderr:"; cat "$W/err"; echo "---"
[ "$rc" -ne 0 ] || fail "a configuration error did not make --dry-run fail"
grep -q '30-bad.conf:2' "$W/err" "$W/out" || fail "the error does not name 30-bad.conf:2"
# The good file still applies on start-up.
expect_line "the good file's rule still plans" "^0000:01:00\.0 .* rule=nic"
state "$W/sys" >"$W/sys.after"
cmp -s "$W/sys.before" "$W/sys.after" || fail "--dry-run with a bad config changed the tree"

if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
fi
echo "all dry-run checks passed"
