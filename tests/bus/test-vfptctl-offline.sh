#!/bin/bash
# test-vfptctl-offline.sh — vfptctl's commands that need no daemon (groups,
# check, plan) against fake sysfs and /proc trees: what they print, their
# exit codes, --json parsed back, that plan prints exactly what
# `vfptd --dry-run` prints, and that none of them writes a byte.
#
# usage: test-vfptctl-offline.sh VFPTD VFPTCTL MKFAKESYSFS
set -u

VFPTD=${1:?usage}
VFPTCTL=${2:?usage}
MKFAKESYSFS=${3:?usage}

if ! command -v python3 >/dev/null; then
        echo "SKIP: python3 is not installed (needed to parse --json back)" >&2
        exit 77
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/vfpt-ctl-XXXXXX")
trap 'rm -rf -- "$W"' EXIT
failures=0
checks=0
fail() {
        echo "FAIL: $*" >&2
        failures=$((failures + 1))
}
pass() { checks=$((checks + 1)); }
expect_rc() { # DESCRIPTION EXPECTED-RC -- COMMAND...
        local what=$1 want=$2 rc=0
        shift 3
        "$@" >"$W/out" 2>"$W/err" || rc=$?
        if [ "$rc" -ne "$want" ]; then
                fail "$what: exit $rc, expected $want; stdout: $(cat "$W/out"); stderr: $(cat "$W/err")"
        else
                pass
        fi
}
expect_in() { # DESCRIPTION FILE REGEX
        if grep -Eq -- "$3" "$2"; then pass; else fail "$1: /$3/ not in: $(cat "$2")"; fi
}
expect_not_in() {
        if grep -Eq -- "$3" "$2"; then fail "$1: /$3/ found: $(grep -E -- "$3" "$2")"; else pass; fi
}
json_ok() { # DESCRIPTION FILE PYTHON-EXPRESSION-on-d
        if python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($3) else 1)" <"$2" 2>"$W/json.err"; then
                pass
        else
                fail "$1: not valid JSON, or ($3) is false: $(cat "$2") $(cat "$W/json.err")"
        fi
}
state() {
        (cd "$1" && find . -printf '%p %y %m %s %T@ %l\n' | LC_ALL=C sort &&
                find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# --- a machine with an IOMMU, ready for passthrough --------------------------
"$MKFAKESYSFS" "$W/sys" <<'EOF' || exit 1
driver vfio-pci
# group 7: a root port, a NIC on its host driver, a USB controller
device 0000:00:1c.0 vendor=8086 device=a110 group=7 driver=pcieport bridge
device 0000:01:00.0 vendor=8086 device=10d3 class=020000 group=7 driver=e1000e parent=0000:00:1c.0
device 0000:01:00.1 vendor=1b21 device=1242 class=0c0330 group=7 driver=xhci_hcd parent=0000:00:1c.0
# group 5: a GPU and its audio, on vfio-pci
device 0000:02:00.0 vendor=10de device=1eb8 class=030200 group=5 driver=vfio-pci override=vfio-pci host=nouveau
device 0000:02:00.1 vendor=10de device=10f9 class=040300 group=5 driver=vfio-pci override=vfio-pci
# group 6: a device with no driver and one on pci-stub
device 0000:04:00.0 vendor=1234 device=0001 class=ff0000 group=6
device 0000:04:00.1 vendor=1234 device=0002 class=ff0000 group=6 driver=pci-stub
# group 3: the host's disk controller, root mounted from it
device 0000:00:1f.2 vendor=8086 device=2922 class=010601 group=3 driver=ahci
block 0000:00:1f.2 vdz 252:0
partition vdz vdz1 252:1
EOF
# What check reads besides the PCI tree: the IOMMU unit, the loaded modules.
mkdir -p "$W/sys/class/iommu/dmar0/intel-iommu" "$W/sys/module/vfio_pci" "$W/sys/module/vfio_iommu_type1/parameters"
echo f050da >"$W/sys/class/iommu/dmar0/intel-iommu/ecap"
echo N >"$W/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"

mkdir -p "$W/proc/self" "$W/proc/net" "$W/conf"
printf '22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vdz1 rw\n' >"$W/proc/self/mountinfo"
printf 'Filename\tType\tSize\tUsed\tPriority\n' >"$W/proc/swaps"
printf 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' >"$W/proc/net/route"
: >"$W/proc/net/ipv6_route"
: >"$W/proc/net/if_inet6"
printf 'vendor_id\t: GenuineIntel\n' >"$W/proc/cpuinfo"
echo 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro intel_iommu=on iommu=pt quiet' >"$W/proc/cmdline"
cat >"$W/proc/interrupts" <<'EOF'
           CPU0
  0:         22   IO-APIC   2-edge      timer
 24:          0  DMAR-MSI   0-edge      dmar0
 25:       1234  IR-PCI-MSI 512000-edge      ahci[0000:00:1f.2]
EOF
cat >"$W/conf/10-nic.conf" <<'EOF'
[nic]
ids = 8086:10d3

[disk]
ids = 8086:2922

[gpu]
ids = 10de:1eb8

[gone]
addresses = 0000:05:00.0
EOF
state "$W/sys" >"$W/sys.before"
state "$W/proc" >"$W/proc.before"

# --- groups -----------------------------------------------------------------------
expect_rc "groups" 0 -- "$VFPTCTL" groups --sysfs-root "$W/sys"
cp "$W/out" "$W/groups"
expect_in "group 5 on vfio-pci is usable" "$W/groups" '^group 5: usable for passthrough$'
expect_in "group 6 (no driver, pci-stub) is usable" "$W/groups" '^group 6: usable for passthrough$'
expect_in "group 7 is not, and names the member on a host driver" "$W/groups" '^group 7: not usable for passthrough: 0000:01:00\.0 is on e1000e$'
expect_in "group 3 is not" "$W/groups" '^group 3: not usable for passthrough: 0000:00:1f\.2 is on ahci$'
expect_in "a bridge is marked" "$W/groups" '^  0000:00:1c\.0  8086:a110  pcieport +\[bridge\]'
expect_in "a member without a driver says so" "$W/groups" '^  0000:04:00\.0  1234:0001  \(no driver\)'
expect_in "members list id and driver" "$W/groups" '^  0000:01:00\.1  1b21:1242  xhci_hcd'
expect_not_in "no trailing blanks" "$W/groups" ' $'
n=$(grep -c '^group ' "$W/groups")
[ "$n" -eq 4 ] && pass || fail "groups printed $n groups, expected 4"
first=$(grep '^group ' "$W/groups" | head -1)
[ "$first" = "group 3: not usable for passthrough: 0000:00:1f.2 is on ahci" ] && pass || fail "groups are not in numeric order: $first"
expect_rc "groups --quiet" 0 -- "$VFPTCTL" groups --quiet --sysfs-root "$W/sys"
printf '%s\n' 0000:00:1f.2 0000:01:00.0 0000:01:00.1 0000:02:00.0 0000:02:00.1 0000:04:00.0 0000:04:00.1 >"$W/want-quiet"
cmp -s "$W/out" "$W/want-quiet" && pass || fail "groups --quiet: every endpoint's address, in address order, bridges left out; got: $(cat "$W/out")"
expect_rc "groups -q with --json" 2 -- "$VFPTCTL" groups -q --json --sysfs-root "$W/sys"
expect_in "--quiet and --json exclude each other" "$W/err" 'exclude each other'
expect_rc "groups --json" 0 -- "$VFPTCTL" groups --json --sysfs-root "$W/sys"
json_ok "groups --json" "$W/out" \
        'd["iommu_active"] and [g["group"] for g in d["groups"]]==[3,5,6,7] and [g["usable"] for g in d["groups"]]==[False,True,True,False] and d["groups"][3]["blocked_by"]=="0000:01:00.0" and d["groups"][3]["devices"][0]["bridge"] is True and d["groups"][2]["devices"][0]["driver"] is None and len(d["groups"][3]["devices"])==3'

# --- check ------------------------------------------------------------------------
expect_rc "check on a ready host" 0 -- "$VFPTCTL" check --sysfs-root "$W/sys" --proc-root "$W/proc"
cp "$W/out" "$W/check"
expect_in "IOMMU: which and how many groups" "$W/check" '^ok +IOMMU: Intel VT-d active \(dmar0\); 4 IOMMU groups$'
expect_in "interrupt remapping from /proc/interrupts" "$W/check" '^ok +interrupt remapping: on \(IR-'
expect_in "vfio modules loaded" "$W/check" '^ok +vfio modules: vfio-pci loaded, vfio_iommu_type1 loaded$'
expect_in "command line hints" "$W/check" '^info +kernel command line: intel_iommu=on iommu=pt$'
expect_in "the verdict" "$W/check" '^ready for passthrough$'
expect_rc "check --json on a ready host" 0 -- "$VFPTCTL" check --json --sysfs-root "$W/sys" --proc-root "$W/proc"
json_ok "check --json" "$W/out" \
        'd["ready"] is True and [c["ok"] for c in d["checks"]]==[True,True,True,None] and d["checks"][0]["check"]=="IOMMU"'

# Interrupt remapping off, the hardware capable of it, the command line to blame.
mkdir -p "$W/proc2"
cp "$W/proc/cpuinfo" "$W/proc2/"
grep -v IR- "$W/proc/interrupts" >"$W/proc2/interrupts"
echo 'root=/dev/vda1 intel_iommu=on intremap=off vfio-pci.ids=10de:1eb8' >"$W/proc2/cmdline"
expect_rc "check without interrupt remapping" 3 -- "$VFPTCTL" check --sysfs-root "$W/sys" --proc-root "$W/proc2"
expect_in "it fails, and knows the hardware could" "$W/out" '^FAIL +interrupt remapping: off: .*ecap bit 3'
expect_in "the fix names the parameter to remove" "$W/out" '^ +fix: remove intremap=off'
expect_in "vfio-pci.ids= gets a note" "$W/out" '^ +note: vfio-pci\.ids= grabs every device'
expect_in "the verdict" "$W/out" '^NOT ready for passthrough$'

# No IOMMU, no modules.
"$MKFAKESYSFS" "$W/sys-off" <<'EOF' || exit 1
iommu off
device 0000:01:00.0 vendor=8086 device=10d3 class=020000 driver=e1000e
EOF
echo 'root=/dev/vda1 quiet' >"$W/proc2/cmdline"
expect_rc "check on a host without IOMMU" 3 -- "$VFPTCTL" check --sysfs-root "$W/sys-off" --proc-root "$W/proc2"
cp "$W/out" "$W/check-off"
expect_in "IOMMU fails" "$W/check-off" '^FAIL +IOMMU: no IOMMU groups'
expect_in "the fix says what to turn on, for Intel" "$W/check-off" '^ +fix: enable VT-d in the firmware setup and boot with intel_iommu=on'
expect_in "modules fail when neither loaded nor found" "$W/check-off" '^(FAIL|ok) +vfio modules: '
expect_rc "check --json on a host without IOMMU" 3 -- "$VFPTCTL" check --json --sysfs-root "$W/sys-off" --proc-root "$W/proc2"
json_ok "check --json (not ready)" "$W/out" 'd["ready"] is False and d["checks"][0]["ok"] is False and "intel_iommu=on" in d["checks"][0]["fix"]'
printf 'vendor_id\t: AuthenticAMD\n' >"$W/proc2/cpuinfo"
echo 'root=/dev/vda1 amd_iommu=off' >"$W/proc2/cmdline"
expect_rc "check on an AMD host with the IOMMU turned off" 3 -- "$VFPTCTL" check --sysfs-root "$W/sys-off" --proc-root "$W/proc2"
expect_in "the fix names the parameter to remove" "$W/out" '^ +fix: the kernel command line turns the IOMMU off'

expect_rc "groups without IOMMU" 3 -- "$VFPTCTL" groups --sysfs-root "$W/sys-off"
expect_in "groups says why there are none" "$W/err" 'IOMMU is off.*vfptctl check'
expect_rc "groups --quiet without IOMMU" 3 -- "$VFPTCTL" groups --quiet --sysfs-root "$W/sys-off"
expect_not_in "groups --quiet says nothing on stderr" "$W/err" '.'
expect_rc "groups --json without IOMMU" 3 -- "$VFPTCTL" groups --json --sysfs-root "$W/sys-off"
json_ok "groups --json without IOMMU" "$W/out" 'd["iommu_active"] is False and d["groups"][0]["group"] is None and d["groups"][0]["usable"] is False'

# --- plan -------------------------------------------------------------------------
for args in "--config-dir $W/conf" "--config-dir $W/nonexistent"; do
        rc_d=0
        "$VFPTD" --dry-run --sysfs-root "$W/sys" --proc-root "$W/proc" $args --runtime-dir "$W/run/vfpt.d" \
                --records-dir "$W/run/records" >"$W/dry" 2>/dev/null || rc_d=$?
        expect_rc "plan $args" "$rc_d" -- "$VFPTCTL" plan --sysfs-root "$W/sys" --proc-root "$W/proc" $args \
                --runtime-dir "$W/run/vfpt.d" --records-dir "$W/run/records"
        if cmp -s "$W/dry" "$W/out"; then pass; else fail "plan $args differs from vfptd --dry-run: $(diff "$W/dry" "$W/out")"; fi
done
expect_rc "plan" 0 -- "$VFPTCTL" plan --sysfs-root "$W/sys" --proc-root "$W/proc" --config-dir "$W/conf" \
        --runtime-dir "$W/run/vfpt.d" --records-dir "$W/run/records"
cp "$W/out" "$W/plan"
expect_in "plan claims the NIC with its steps" "$W/plan" '^0000:01:00\.0 8086:10d3 group=7 driver=e1000e target=vfio-pci rule=nic.* claim: .*override vfio-pci'
expect_in "plan refuses the disk controller" "$W/plan" '^0000:00:1f\.2 .*rule=disk.* refused: .*in use'
expect_in "plan reports the absent device" "$W/plan" '^0000:05:00\.0 .*rule=gone.* absent'
expect_in "plan ends with the summary" "$W/plan" '^summary: '
expect_rc "plan --json" 0 -- "$VFPTCTL" plan --json --sysfs-root "$W/sys" --proc-root "$W/proc" --config-dir "$W/conf" \
        --runtime-dir "$W/run/vfpt.d" --records-dir "$W/run/records"
n=$(grep -c '^[0-9a-f]\{4\}:' "$W/plan")
json_ok "plan --json" "$W/out" \
        "len(d['devices'])==$n and d['iommu_active'] and d['config_errors']==[] and d['summary'].endswith('failed') and any(x['address']=='0000:01:00.0' and x['state']=='claim' and x['steps'][0]=={'step':'driver_override','driver':'vfio-pci'} for x in d['devices']) and any(x['state']=='absent' and x['id'] is None for x in d['devices'])"

# Runtime claims are part of the plan: the runtime directory is read too.
mkdir -p "$W/run/vfpt.d"
printf '[runtime-0000:04:00.0]\naddresses = 0000:04:00.0\n' >"$W/run/vfpt.d/90-vfptctl-runtime.conf"
expect_rc "plan with a runtime claim" 0 -- "$VFPTCTL" plan --sysfs-root "$W/sys" --proc-root "$W/proc" --config-dir "$W/conf" \
        --runtime-dir "$W/run/vfpt.d" --records-dir "$W/run/records"
expect_in "the runtime rule is planned" "$W/out" '^0000:04:00\.0 .*rule=runtime-0000:04:00\.0'

printf '[broken]\nids = zzzz:1\n' >"$W/conf/30-bad.conf"
expect_rc "plan with a configuration error" 1 -- "$VFPTCTL" plan --sysfs-root "$W/sys" --proc-root "$W/proc" \
        --config-dir "$W/conf" --runtime-dir "$W/run/vfpt.d" --records-dir "$W/run/records"
expect_in "the error names file:line" "$W/err" '30-bad\.conf:2'
expect_in "the good rules still plan" "$W/out" '^0000:01:00\.0 .*rule=nic'
expect_rc "plan --json with a configuration error" 1 -- "$VFPTCTL" plan --json --sysfs-root "$W/sys" --proc-root "$W/proc" \
        --config-dir "$W/conf" --runtime-dir "$W/run/vfpt.d" --records-dir "$W/run/records"
json_ok "plan --json lists the error" "$W/out" 'len(d["config_errors"])==1 and "30-bad.conf:2" in d["config_errors"][0]'
rm -f "$W/conf/30-bad.conf"

# --- usage -------------------------------------------------------------------------
expect_rc "plan takes no --persist" 2 -- "$VFPTCTL" plan --persist
expect_rc "groups takes no argument" 2 -- "$VFPTCTL" groups extra
expect_rc "check takes no --config-dir" 2 -- "$VFPTCTL" check --config-dir /x
expect_rc "--version" 0 -- "$VFPTCTL" --version
expect_in "--version names it" "$W/out" '^vfptctl [0-9]'
expect_rc "--help" 0 -- "$VFPTCTL" --help
expect_in "--help lists every command" "$W/out" 'qemu-args \[RULE\] \[--libvirt\]'

# --- nothing was written --------------------------------------------------------------
state "$W/sys" >"$W/sys.after"
cmp -s "$W/sys.before" "$W/sys.after" && pass || fail "an offline command changed the sysfs tree: $(diff "$W/sys.before" "$W/sys.after")"
state "$W/proc" >"$W/proc.after"
cmp -s "$W/proc.before" "$W/proc.after" && pass || fail "an offline command changed the fake /proc"
[ ! -e "$W/run/records" ] && pass || fail "plan wrote records"

if [ "$failures" -ne 0 ]; then
        echo "$failures of $((checks + failures)) checks failed" >&2
        exit 1
fi
echo "all $checks offline vfptctl checks passed"
