#!/bin/bash
# test-bus.sh — vfptd's D-Bus service (org.vfpt1) and vfptctl's online
# commands, end to end: a private dbus-daemon whose configuration includes
# the project's policy file, vfptd on a fake sysfs tree (with a fake /proc,
# records, runtime and config directories in a temporary directory), and
# every method, every error, the signals, the authorization and the exit
# codes. Also: vfptd sends READY=1 before any bus exists, attaches when the
# bus appears, and again after the bus restarts.
#
# Never the host's bus, never the host's /sys: DBUS_SYSTEM_BUS_ADDRESS
# points at the private bus, and every path vfptd touches is under $W.
#
# usage: test-bus.sh VFPTD VFPTCTL MKFAKESYSFS BUS_HELPER POLICY_FILE
set -u

VFPTD=${1:?usage}
VFPTCTL=${2:?usage}
MKFAKESYSFS=${3:?usage}
HELPER=${4:?usage}
POLICY=${5:?usage}

for tool in dbus-daemon busctl python3; do
        if ! command -v "$tool" >/dev/null; then
                echo "SKIP: $tool is not installed" >&2
                exit 77
        fi
done
if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: needs root (to own org.vfpt1 under the policy, and to drop to uid 65534)" >&2
        exit 77
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/vfpt-bus-XXXXXX")
# The unprivileged caller must reach the bus socket.
chmod 755 "$W"
PIDS=()
cleanup() {
        for p in "${PIDS[@]}"; do
                kill "$p" 2>/dev/null
        done
        for p in "${PIDS[@]}"; do
                wait "$p" 2>/dev/null
        done
        if [ "${KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf -- "$W"; fi
}
trap cleanup EXIT

failures=0
checks=0
fail() {
        echo "FAIL: $*" >&2
        failures=$((failures + 1))
}
pass() {
        checks=$((checks + 1))
}
# expect DESCRIPTION EXPECTED-RC -- COMMAND...: runs it, output in $W/out and $W/err.
expect_rc() {
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
        if grep -Eq -- "$3" "$2"; then pass; else fail "$1: /$3/ not in $(basename "$2"): $(cat "$2")"; fi
}
expect_not_in() {
        if grep -Eq -- "$3" "$2"; then fail "$1: /$3/ found in $(basename "$2"): $(grep -E -- "$3" "$2")"; else pass; fi
}
# Waits up to 10 s for REGEX in FILE.
wait_for() { # DESCRIPTION FILE REGEX
        for _ in $(seq 100); do
                if grep -Eq -- "$3" "$2" 2>/dev/null; then
                        pass
                        return 0
                fi
                sleep 0.1
        done
        fail "$1: /$3/ did not appear in $(basename "$2"): $(cat "$2" 2>/dev/null)"
        return 1
}
json_ok() { # DESCRIPTION FILE [PYTHON-EXPRESSION on d]
        local expr=${3:-True}
        if python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($expr) else 1)" <"$2" 2>"$W/json.err"; then
                pass
        else
                fail "$1: not valid JSON, or ($expr) is false: $(cat "$2") $(cat "$W/json.err")"
        fi
}

BUS=unix:path=$W/bus.sock
export DBUS_SYSTEM_BUS_ADDRESS=$BUS
bctl() { busctl --address="$BUS" "$@"; }
prop() { # PATH INTERFACE PROPERTY
        bctl get-property org.vfpt1 "$1" "$2" "$3" 2>&1
}
devpath() { # address -> object path, as sd_bus_path_encode makes it
        python3 -c '
import sys
out = ""
for c in sys.argv[1]:
    out += c if c.isalnum() else "_%02x" % ord(c)
if out[:1].isdigit():
    out = "_%02x" % ord(out[0]) + out[1:]
print("/org/vfpt1/device/" + out)' "$1"
}

# --- the machine ----------------------------------------------------------
"$MKFAKESYSFS" "$W/sys" <<'EOF' || exit 1
driver vfio-pci
driver e1000e
# group 7: a root port and a NIC on its host driver (a real claim would need
# the kernel; on this tree it fails verification and rolls back)
device 0000:00:1c.0 vendor=8086 device=a110 group=7 driver=pcieport bridge
device 0000:01:00.0 vendor=8086 device=10d3 class=020000 group=7 driver=e1000e parent=0000:00:1c.0
# group 5: a GPU and its audio function, claimed by the persistent rule "gpu"
device 0000:02:00.0 vendor=10de device=1eb8 class=030200 group=5 driver=vfio-pci override=vfio-pci host=nouveau
device 0000:02:00.1 vendor=10de device=10f9 class=040300 group=5 driver=vfio-pci override=vfio-pci host=snd_hda_intel
# groups 9 and 11: NICs already on vfio-pci that no rule lists yet
device 0000:03:00.0 vendor=8086 device=10d3 class=020000 group=9 driver=vfio-pci override=vfio-pci host=e1000e
device 0000:04:00.0 vendor=8086 device=1533 class=020000 group=11 driver=vfio-pci override=vfio-pci host=igb
# group 3: the host's disk controller, root mounted from it
device 0000:00:1f.2 vendor=8086 device=2922 class=010601 group=3 driver=ahci
block 0000:00:1f.2 vdz 252:0
partition vdz vdz1 252:1
EOF
mkdir -p "$W/proc/self" "$W/proc/net" "$W/conf" "$W/run" "$W/vfio"
printf '22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vdz1 rw\n' >"$W/proc/self/mountinfo"
printf 'Filename\tType\tSize\tUsed\tPriority\n' >"$W/proc/swaps"
printf 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' >"$W/proc/net/route"
: >"$W/proc/net/ipv6_route"
: >"$W/proc/net/if_inet6"
printf '[gpu]\nids = 10de:1eb8\n' >"$W/conf/10-gpu.conf"
RUNTIME=$W/run/vfpt.d
RUNTIME_FILE=$RUNTIME/90-vfptctl-runtime.conf
PERSIST_FILE=$W/conf/80-vfptctl.conf

# --- buses ----------------------------------------------------------------
# Like the system bus: method calls denied unless a policy allows them, and
# the project's policy included as installed.
bus_config() { # SOCKET EXTRA-POLICY
        cat <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=$1</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"/>
  </policy>
  $2
</busconfig>
EOF
}
bus_config "$W/bus.sock" "<include>$POLICY</include>" >"$W/bus.conf"
start_bus() { # CONFIG -> sets BUS_PID
        dbus-daemon --config-file="$1" --nofork --nopidfile --print-address=3 3>"$W/bus.address" 2>>"$W/bus.log" &
        BUS_PID=$!
        PIDS+=("$BUS_PID")
        for _ in $(seq 100); do
                [ -s "$W/bus.address" ] && return 0
                sleep 0.1
        done
        echo "dbus-daemon did not start: $(cat "$W/bus.log")" >&2
        exit 1
}
wait_name() { # until org.vfpt1 answers with State=running
        for _ in $(seq 100); do
                if [ "$(prop /org/vfpt1 org.vfpt1.Manager State)" = 's "running"' ]; then
                        return 0
                fi
                sleep 0.1
        done
        return 1
}

# --- READY=1 comes before the bus exists ---------------------------------
python3 - "$W/notify.sock" "$W/notify.log" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w") as f:
    while True:
        f.write(s.recv(4096).decode() + "\n--\n")
        f.flush()
EOF
PIDS+=($!)
for _ in $(seq 50); do [ -S "$W/notify.sock" ] && break; sleep 0.1; done

NOTIFY_SOCKET=$W/notify.sock "$VFPTD" --sysfs-root "$W/sys" --proc-root "$W/proc" --vfio-dir "$W/vfio" \
        --records-dir "$W/run/records" --config-dir "$W/conf" --runtime-dir "$RUNTIME" --debug \
        >"$W/vfptd.log" 2>&1 &
VFPTD_PID=$!
PIDS+=("$VFPTD_PID")
wait_for "vfptd sends READY=1 while there is no bus at all" "$W/notify.log" '^READY=1'
[ -e "$W/bus.sock" ] && fail "the bus socket existed before the test started the bus"
kill -0 "$VFPTD_PID" 2>/dev/null || fail "vfptd exited without a bus: $(cat "$W/vfptd.log")"

start_bus "$W/bus.conf"
if wait_name; then pass; else fail "vfptd did not attach to the bus that appeared after it: $(cat "$W/vfptd.log")"; fi

# --- introspection and properties ------------------------------------------
expect_rc "busctl introspect /org/vfpt1" 0 -- bctl introspect org.vfpt1 /org/vfpt1
cp "$W/out" "$W/introspect"
for m in Claim ClaimPersistent Release ReleasePersistent Reload ListDevices GetDevice; do
        expect_in "introspection lists method $m" "$W/introspect" "^\.$m +method"
done
expect_in "ListDevices returns a(osqqssissssssss)" "$W/introspect" '^\.ListDevices +method +- +a\(osqqssissssssss\)'
for p in State Status IommuActive Claimed Absent Refused Failed Devices ConfigErrors; do
        expect_in "property $p emits change" "$W/introspect" "^\.$p +property .*emits-change"
done
for p in Version RuntimeDirectory PersistentDirectory ConfigDirectories; do
        expect_in "property $p is const" "$W/introspect" "^\.$p +property .*const"
done
expect_in "an ObjectManager is at /org/vfpt1" "$W/introspect" '^org\.freedesktop\.DBus\.ObjectManager +interface'
expect_rc "busctl tree" 0 -- bctl tree org.vfpt1
GPU=$(devpath 0000:02:00.0)
AUDIO=$(devpath 0000:02:00.1)
NIC3=$(devpath 0000:03:00.0)
NIC4=$(devpath 0000:04:00.0)
expect_in "the tree holds the claimed GPU's object" "$W/out" "$GPU\$"
expect_in "the tree holds the GPU's audio function (same group)" "$W/out" "$AUDIO\$"
expect_not_in "a device no rule matches has no object" "$W/out" "$NIC3\$"
expect_rc "busctl introspect a device" 0 -- bctl introspect org.vfpt1 "$GPU"
cp "$W/out" "$W/introspect.dev"
for p in VendorId DeviceId Vendor Name IommuGroup Driver TargetDriver State Rule RuleFile Reason \
        SriovNumVfs SriovTotalVfs VirtualFunctions ResetMethod NodeOwner; do
        expect_in "device property $p emits change" "$W/introspect.dev" "^\.$p +property .*emits-change"
done
expect_in "device Address is const" "$W/introspect.dev" '^\.Address +property +s +"0000:02:00\.0" +const'
expect_in "device VendorId is 0x10de" "$W/introspect.dev" '^\.VendorId +property +q +4318 '
expect_in "device IommuGroup" "$W/introspect.dev" '^\.IommuGroup +property +i +5 '
expect_in "device State" "$W/introspect.dev" '^\.State +property +s +"claimed" '
expect_in "device Rule" "$W/introspect.dev" '^\.Rule +property +s +"gpu" '
expect_in "a device that is no SR-IOV PF has no VFs" "$W/introspect.dev" '^\.VirtualFunctions +property +as +0 '
expect_in "... and a VF count of 0" "$W/introspect.dev" '^\.SriovNumVfs +property +u +0 '
expect_in "device RuleFile names file:line" "$W/introspect.dev" "^\\.RuleFile +property +s +\"$W/conf/10-gpu.conf:1\" "
[ "$(prop "$AUDIO" org.vfpt1.Device Rule)" = 's ""' ] && pass || fail "a device pulled in by its group has an empty Rule"
[ "$(prop /org/vfpt1 org.vfpt1.Manager Claimed)" = "u 2" ] && pass || fail "Claimed is 2: $(prop /org/vfpt1 org.vfpt1.Manager Claimed)"
[ "$(prop /org/vfpt1 org.vfpt1.Manager IommuActive)" = "b true" ] && pass || fail "IommuActive"
[ "$(prop /org/vfpt1 org.vfpt1.Manager RuntimeDirectory)" = "s \"$RUNTIME\"" ] && pass || fail "RuntimeDirectory"
expect_in "ConfigDirectories: the config dir, then the runtime dir" <(prop /org/vfpt1 org.vfpt1.Manager ConfigDirectories) \
        "^as 2 \"$W/conf\" \"$RUNTIME\""
expect_rc "GetManagedObjects" 0 -- bctl call org.vfpt1 /org/vfpt1 org.freedesktop.DBus.ObjectManager GetManagedObjects
expect_in "GetManagedObjects lists the device interface" "$W/out" 'org\.vfpt1\.Device'
expect_rc "ListDevices" 0 -- bctl call org.vfpt1 /org/vfpt1 org.vfpt1.Manager ListDevices
expect_in "ListDevices returns both devices of group 5" "$W/out" '^a\(osqqssissssssss\) 2 '
expect_rc "GetDevice of a tracked device" 0 -- bctl call org.vfpt1 /org/vfpt1 org.vfpt1.Manager GetDevice s 02:00.0
expect_in "GetDevice returns the object path" "$W/out" "^o \"$GPU\""
expect_rc "GetDevice of an untracked device fails" 1 -- bctl call org.vfpt1 /org/vfpt1 org.vfpt1.Manager GetDevice s 0000:03:00.0
expect_rc "Set is denied (nothing is writable)" 1 -- \
        bctl set-property org.vfpt1 /org/vfpt1 org.vfpt1.Manager State s x

# --- signals: watch from here on -------------------------------------------
"$HELPER" monitor >"$W/mon" 2>"$W/mon.err" &
PIDS+=($!)
wait_for "the monitor subscribed" "$W/mon" '^ready'

# --- vfptctl status ---------------------------------------------------------
expect_rc "vfptctl status" 0 -- "$VFPTCTL" status
cp "$W/out" "$W/status"
expect_in "status says the daemon runs" "$W/status" '^vfptd: running'
expect_in "status gives the summary" "$W/status" '^2 devices in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed'
expect_in "status has a header" "$W/status" '^ADDRESS +ID +NAME +GROUP +DRIVER +STATE +RULE +RESET +NODE +REASON'
expect_in "status lists the GPU" "$W/status" '^0000:02:00\.0 +10de:1eb8 .* 5 +vfio-pci +claimed +gpu '
expect_in "status marks the audio function as pulled in by its group" "$W/status" '^0000:02:00\.1 +10de:10f9 .* 5 +vfio-pci +claimed +\(group\) '
expect_rc "vfptctl status --json" 0 -- "$VFPTCTL" status --json
json_ok "status --json" "$W/out" \
        'd["state"]=="running" and d["claimed"]==2 and d["iommu_active"] is True and len(d["devices"])==2 and d["devices"][0]["address"]=="0000:02:00.0" and d["devices"][0]["iommu_group"]==5 and d["devices"][1]["rule"] is None and d["devices"][0]["id"]=="10de:1eb8"'

expect_rc "vfptctl status --quiet" 0 -- "$VFPTCTL" status --quiet
printf '%s\n' 0000:02:00.0 0000:02:00.1 >"$W/want-quiet"
cmp -s "$W/out" "$W/want-quiet" && pass || fail "status --quiet: the tracked devices' addresses only; got: $(cat "$W/out")"

# --- Claim ------------------------------------------------------------------
expect_rc "claim a free device already on vfio-pci" 0 -- "$VFPTCTL" claim 03:00.0
expect_in "claim says where it ended" "$W/out" "^0000:03:00\.0: claimed, on vfio-pci \(rule 'runtime-0000:03:00\.0' in $RUNTIME_FILE:[0-9]+\)"
expect_in "the runtime rule is in the runtime file" "$RUNTIME_FILE" '^\[runtime-0000:03:00\.0\]$'
expect_in "the runtime rule lists the address" "$RUNTIME_FILE" '^addresses = 0000:03:00\.0$'
[ "$(prop "$NIC3" org.vfpt1.Device State)" = 's "claimed"' ] && pass || fail "the claimed device's State: $(prop "$NIC3" org.vfpt1.Device State)"
wait_for "InterfacesAdded for the claimed device" "$W/mon" "^InterfacesAdded $NIC3 .*org\\.vfpt1\\.Device"
wait_for "PropertiesChanged: Claimed went to 3" "$W/mon" '^PropertiesChanged /org/vfpt1 org\.vfpt1\.Manager .*Claimed=3'
wait_for "PropertiesChanged: Devices changed" "$W/mon" '^PropertiesChanged /org/vfpt1 org\.vfpt1\.Manager .*Devices='
wait_for "PropertiesChanged: State went through reloading" "$W/mon" 'org\.vfpt1\.Manager .*State="reloading"'
expect_rc "claiming it again is fine" 0 -- "$VFPTCTL" claim 0000:03:00.0
n=$(grep -c '^\[runtime-0000:03:00\.0\]' "$RUNTIME_FILE")
[ "$n" -eq 1 ] && pass || fail "a second claim added a second rule ($n)"

expect_rc "claim that fails (verification on a tree without a kernel)" 1 -- "$VFPTCTL" claim 01:00.0
expect_in "a failed claim is org.vfpt1.Error.Failed" "$W/err" '\[org\.vfpt1\.Error\.Failed\]$'
expect_in "a failed claim says what failed and that the group is back" "$W/err" 'verify: bound to e1000e.*back on the driver it had'
expect_not_in "a failed claim leaves no rule" "$RUNTIME_FILE" 'runtime-0000:01:00\.0'
expect_rc "claim of a device the host uses" 1 -- "$VFPTCTL" claim 00:1f.2
expect_in "it is org.vfpt1.Error.Refused, with the guard's reason" "$W/err" 'in use: backs mounted filesystem /.*\[org\.vfpt1\.Error\.Refused\]$'
expect_in "a refused claim says how to force it" "$W/err" 'force = yes in /etc/vfpt.d'
expect_not_in "a refused claim leaves no rule" "$RUNTIME_FILE" 'runtime-0000:00:1f\.2'
expect_rc "claim of a bridge" 1 -- "$VFPTCTL" claim 00:1c.0
expect_in "a bridge is refused" "$W/err" 'bridge.*\[org\.vfpt1\.Error\.Refused\]$'
expect_rc "claim of an empty slot" 1 -- "$VFPTCTL" claim 0000:05:00.0
expect_in "an empty slot is NotFound" "$W/err" 'no PCI device at 0000:05:00\.0.*\[org\.vfpt1\.Error\.NotFound\]$'
expect_rc "claim of garbage" 1 -- "$VFPTCTL" claim 12:34
expect_in "garbage is InvalidAddress" "$W/err" "'12:34' is not a PCI address.*\\[org\\.vfpt1\\.Error\\.InvalidAddress\\]\$"
expect_rc "busctl Claim with a bad address" 1 -- bctl call org.vfpt1 /org/vfpt1 org.vfpt1.Manager Claim s nonsense
expect_not_in "nothing was claimed by the failed calls" <(prop /org/vfpt1 org.vfpt1.Manager Claimed) 'u [^3]'

# Hostile arguments: every method that takes an address, with strings no
# address looks like (huge ones included). Each call must get a named error,
# vfptd must stay up, and nothing may change: the runtime file, the claimed
# count and the drivers are compared before and after.
huge=$(head -c 100000 /dev/zero | tr '\0' 'a')
hostile=(
        "" " " "-" "0" "0000:03:00.0 " " 0000:03:00.0" "0000:03:00.0;0000:04:00.0" "0000:03:00.0/../../x"
        "0000:03:00.9" "0000:03:20.0" "0000:0300.0" "10000:03:00.0" "ffff:ff:1f.7" "0000:03:00.*" "*"
        "%s%s%s%n" "\\" "$(printf 'a\tb\nc')" "../../../../etc/shadow" "$huge" "0000:03:00.0$huge"
)
sum_before=$(md5sum <"$RUNTIME_FILE")
claimed_before=$(prop /org/vfpt1 org.vfpt1.Manager Claimed)
drivers_before=$(cd "$W/sys/bus/pci/devices" && for d in *; do printf '%s=%s ' "$d" "$(basename "$(readlink "$d/driver" 2>/dev/null)")"; done)
calls=0
bad=0
for m in Claim Release ClaimPersistent ReleasePersistent GetDevice; do
        for a in "${hostile[@]}"; do
                calls=$((calls + 1))
                rc=0
                "$HELPER" call-as 0 "$m" "$a" >"$W/out" 2>"$W/err" || rc=$?
                if [ "$rc" -ne 1 ] || ! grep -Eq '^org\.vfpt1\.Error\.(InvalidAddress|NotFound|Refused) ' "$W/out"; then
                        bad=$((bad + 1))
                        fail "$m '${a:0:40}'$([ ${#a} -gt 40 ] && echo "... (${#a} bytes)"): exit $rc, $(head -c 300 "$W/out")"
                elif [ "$(wc -c <"$W/out")" -gt 400 ]; then
                        bad=$((bad + 1))
                        fail "$m '${a:0:40}': the error quotes too much of the argument ($(wc -c <"$W/out") bytes)"
                fi
        done
done
[ "$bad" -eq 0 ] && pass
expect_rc "busctl Claim with the wrong signature" 1 -- bctl call org.vfpt1 /org/vfpt1 org.vfpt1.Manager Claim u 5
expect_in "it is named: invalid arguments" "$W/err" '[Ii]nvalid arg'
expect_rc "busctl Claim with no argument" 1 -- bctl call org.vfpt1 /org/vfpt1 org.vfpt1.Manager Claim
kill -0 "$VFPTD_PID" 2>/dev/null && pass || fail "vfptd died during the hostile calls: $(tail "$W/vfptd.log")"
[ "$(md5sum <"$RUNTIME_FILE")" = "$sum_before" ] && pass || fail "a hostile call changed the runtime file: $(cat "$RUNTIME_FILE")"
[ "$(prop /org/vfpt1 org.vfpt1.Manager Claimed)" = "$claimed_before" ] && pass || fail "a hostile call changed Claimed"
drivers_after=$(cd "$W/sys/bus/pci/devices" && for d in *; do printf '%s=%s ' "$d" "$(basename "$(readlink "$d/driver" 2>/dev/null)")"; done)
[ "$drivers_after" = "$drivers_before" ] && pass || fail "a hostile call changed a driver: $drivers_before -> $drivers_after"
echo "# hostile D-Bus sweep: $calls calls (5 methods x ${#hostile[@]} strings, up to ${#huge} bytes), all named errors, nothing changed"

# --- Release ----------------------------------------------------------------
expect_rc "release of a device a config file lists" 1 -- "$VFPTCTL" release 02:00.0
expect_in "it is Configured, naming file:line and rule" "$W/err" \
        "rule 'gpu' in $W/conf/10-gpu.conf:1.*\\[org\\.vfpt1\\.Error\\.Configured\\]\$"
expect_rc "release of a device claimed only for its group" 1 -- "$VFPTCTL" release 02:00.1
expect_in "it says to release the group's listed device" "$W/err" 'shares IOMMU group 5 with 0000:02:00\.0.*release 0000:02:00\.0 instead.*\[org\.vfpt1\.Error\.Refused\]$'
expect_rc "release of a device vfpt holds no claim on" 1 -- "$VFPTCTL" release 0000:06:00.0
expect_in "it is NotFound" "$W/err" '\[org\.vfpt1\.Error\.NotFound\]$'
expect_rc "release of garbage" 1 -- "$VFPTCTL" release x
expect_in "it is InvalidAddress" "$W/err" '\[org\.vfpt1\.Error\.InvalidAddress\]$'

# A VM holds group 11 open.
expect_rc "claim the second NIC" 0 -- "$VFPTCTL" claim 04:00.0
mkdir -p "$W/proc/4242/fd"
ln -s "$W/vfio/11" "$W/proc/4242/fd/7"
echo qemu-system-x86 >"$W/proc/4242/comm"
expect_rc "release while a process holds the group" 1 -- "$VFPTCTL" release 04:00.0
expect_in "it is InUse, naming pid and command" "$W/err" 'open by pid 4242 \(qemu-system-x86\).*\[org\.vfpt1\.Error\.InUse\]$'
expect_in "the rule stays while the group is held" "$RUNTIME_FILE" '^\[runtime-0000:04:00\.0\]$'
rm -rf "$W/proc/4242"
expect_rc "release once the group is free" 0 -- "$VFPTCTL" release 04:00.0
expect_not_in "release removed the rule" "$RUNTIME_FILE" 'runtime-0000:04:00\.0'
wait_for "InterfacesRemoved for the released device" "$W/mon" "^InterfacesRemoved $NIC4 .*org\\.vfpt1\\.Device"
expect_rc "release the first NIC" 0 -- "$VFPTCTL" release 0000:03:00.0
[ ! -e "$RUNTIME_FILE" ] && pass || fail "the runtime file stays after its last rule went: $(cat "$RUNTIME_FILE")"

# --- --persist ----------------------------------------------------------------
expect_rc "claim --persist" 0 -- "$VFPTCTL" claim --persist 03:00.0
expect_in "the persistent rule is in the first config dir" "$PERSIST_FILE" '^\[vfptctl-0000:03:00\.0\]$'
[ ! -e "$RUNTIME_FILE" ] && pass || fail "claim --persist wrote a runtime rule"
expect_rc "plain release of a --persist claim" 1 -- "$VFPTCTL" release 03:00.0
expect_in "it says to use --persist" "$W/err" 'vfptctl release --persist 0000:03:00\.0.*\[org\.vfpt1\.Error\.Configured\]$'
expect_rc "release --persist" 0 -- "$VFPTCTL" release --persist 03:00.0
[ ! -e "$PERSIST_FILE" ] && pass || fail "the persistent file stays after its last rule went"
expect_rc "a runtime claim, then --persist replaces it" 0 -- "$VFPTCTL" claim 03:00.0
expect_rc "claim --persist over a runtime claim" 0 -- "$VFPTCTL" claim --persist 03:00.0
[ ! -e "$RUNTIME_FILE" ] && pass || fail "the runtime rule stayed next to the persistent one"
expect_in "the device is now under the persistent rule" <(prop "$NIC3" org.vfpt1.Device Rule) 'vfptctl-0000:03:00\.0'
expect_rc "release --persist again" 0 -- "$VFPTCTL" release --persist 03:00.0

# --- Reload -------------------------------------------------------------------
: >"$W/mon.mark"
expect_rc "vfptctl reload" 0 -- "$VFPTCTL" reload
expect_in "reload prints the new status" "$W/out" '^reloaded: 2 devices'
printf '[gpu-renamed]\nids = 10de:1eb8\n' >"$W/conf/10-gpu.conf"
printf '[nic]\naddresses = 0000:03:00.0\n' >"$W/conf/20-nic.conf"
lines_before=$(wc -l <"$W/mon")
expect_rc "reload with a changed and a new rule" 0 -- "$VFPTCTL" reload
tail -n +"$((lines_before + 1))" "$W/mon" >"$W/mon.reload"
sleep 0.5
tail -n +"$((lines_before + 1))" "$W/mon" >"$W/mon.reload"
expect_in "PropertiesChanged on the device whose rule changed" "$W/mon.reload" \
        "^PropertiesChanged $GPU org\\.vfpt1\\.Device .*Rule=\"gpu-renamed\""
expect_not_in "unchanged properties are not signalled" "$W/mon.reload" "^PropertiesChanged $GPU .*State="
expect_in "InterfacesAdded for the newly listed device" "$W/mon.reload" "^InterfacesAdded $NIC3 "
expect_in "Claimed changed with the reload" "$W/mon.reload" 'org\.vfpt1\.Manager .*Claimed=3'
[ "$(prop "$NIC3" org.vfpt1.Device Rule)" = 's "nic"' ] && pass || fail "the new rule is in force"

printf '[broken]\nids = zzzz:1\n' >"$W/conf/30-bad.conf"
expect_rc "reload of a configuration with an error" 1 -- "$VFPTCTL" reload
expect_in "it is InvalidConfig, naming file:line" "$W/err" '30-bad\.conf:2.*\[org\.vfpt1\.Error\.InvalidConfig\]$'
[ "$(prop "$NIC3" org.vfpt1.Device Rule)" = 's "nic"' ] && pass || fail "the running configuration stays after a rejected reload"
expect_in "ConfigErrors shows the error" <(prop /org/vfpt1 org.vfpt1.Manager ConfigErrors) '30-bad\.conf:2'
expect_rc "claim while the files have an error" 1 -- "$VFPTCTL" claim 04:00.0
expect_in "it is InvalidConfig too" "$W/err" '\[org\.vfpt1\.Error\.InvalidConfig\]$'
[ ! -e "$RUNTIME_FILE" ] && pass || fail "a rejected claim left its rule: $(cat "$RUNTIME_FILE")"
rm -f "$W/conf/30-bad.conf" "$W/conf/20-nic.conf"
expect_rc "reload after fixing it" 0 -- "$VFPTCTL" reload
expect_in "ConfigErrors is empty again" <(prop /org/vfpt1 org.vfpt1.Manager ConfigErrors) '^as 0$'
wait_for "InterfacesRemoved when no rule lists a device any more" "$W/mon" "^InterfacesRemoved $NIC3 "

# --- qemu-args ------------------------------------------------------------------
expect_rc "qemu-args" 0 -- "$VFPTCTL" qemu-args
expect_in "qemu-args has the GPU" "$W/out" '^-device vfio-pci,host=0000:02:00\.0$'
expect_in "qemu-args has its audio function" "$W/out" '^-device vfio-pci,host=0000:02:00\.1$'
n=$(wc -l <"$W/out")
[ "$n" -eq 2 ] && pass || fail "qemu-args printed $n lines"
expect_rc "qemu-args RULE" 0 -- "$VFPTCTL" qemu-args gpu-renamed
expect_in "qemu-args RULE includes the group's other device" "$W/out" 'host=0000:02:00\.1$'
expect_rc "qemu-args of an unknown rule" 1 -- "$VFPTCTL" qemu-args no-such-rule
expect_rc "qemu-args --libvirt" 0 -- "$VFPTCTL" qemu-args --libvirt
if python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.fromstring("<devices>" + sys.stdin.read() + "</devices>")
hs = root.findall("hostdev")
assert len(hs) == 2
for h in hs:
    assert h.get("mode") == "subsystem" and h.get("type") == "pci" and h.get("managed") == "no"
a = hs[0].find("source/address")
assert (a.get("domain"), a.get("bus"), a.get("slot"), a.get("function")) == ("0x0000", "0x02", "0x00", "0x0")
' <"$W/out"; then pass; else fail "qemu-args --libvirt is not the expected XML: $(cat "$W/out")"; fi

# --- authorization ---------------------------------------------------------------
for m in Claim Release ClaimPersistent ReleasePersistent; do
        expect_rc "$m as uid 65534 (policy)" 1 -- "$HELPER" call-as 65534 "$m" 0000:03:00.0
        expect_in "$m as nobody is denied by the bus policy" "$W/out" '^org\.freedesktop\.DBus\.Error\.AccessDenied '
done
expect_rc "Reload as uid 65534 (policy)" 1 -- "$HELPER" call-as 65534 Reload
expect_in "Reload as nobody is denied by the bus policy" "$W/out" '^org\.freedesktop\.DBus\.Error\.AccessDenied '
expect_rc "ListDevices as uid 65534" 0 -- "$HELPER" call-as 65534 ListDevices
expect_in "reading is open to everyone" "$W/out" '^ok$'
expect_rc "vfptctl status as uid 65534" 0 -- setpriv --reuid=65534 --regid=65534 --clear-groups "$VFPTCTL" status
expect_rc "vfptctl claim as uid 65534" 1 -- setpriv --reuid=65534 --regid=65534 --clear-groups "$VFPTCTL" claim 03:00.0
expect_in "vfptctl says to run it as root" "$W/err" 'run it as root'
[ ! -e "$RUNTIME_FILE" ] && pass || fail "a denied claim wrote a rule"

# The daemon's own check, with a bus whose policy lets everyone call anything.
bus_config "$W/open.sock" '<policy context="default"><allow send_destination="*"/><allow own="*"/></policy>' >"$W/open.conf"
dbus-daemon --config-file="$W/open.conf" --nofork --nopidfile 2>>"$W/bus.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$W/open.sock" ] && break; sleep 0.1; done
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$W/open.sock "$VFPTD" --sysfs-root "$W/sys" --proc-root "$W/proc" --vfio-dir "$W/vfio" \
        --records-dir "$W/run/records" --config-dir "$W/conf" --runtime-dir "$RUNTIME" >"$W/vfptd-open.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
        busctl --address="unix:path=$W/open.sock" get-property org.vfpt1 /org/vfpt1 org.vfpt1.Manager State 2>/dev/null | grep -q running && break
        sleep 0.1
done
for m in Claim Release; do
        DBUS_SYSTEM_BUS_ADDRESS=unix:path=$W/open.sock expect_rc "$m as uid 65534 (daemon)" 1 -- "$HELPER" call-as 65534 "$m" 0000:03:00.0
        expect_in "vfptd itself denies $m to nobody" "$W/out" '^org\.vfpt1\.Error\.AccessDenied .*root'
done
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$W/open.sock expect_rc "Reload as uid 65534 (daemon)" 1 -- "$HELPER" call-as 65534 Reload
expect_in "vfptd itself denies Reload to nobody" "$W/out" '^org\.vfpt1\.Error\.AccessDenied '
[ ! -e "$RUNTIME_FILE" ] && pass || fail "a call denied by vfptd wrote a rule"

# --- the bus goes away and comes back ------------------------------------------------
kill "$BUS_PID"
wait "$BUS_PID" 2>/dev/null
expect_rc "status without the bus" 4 -- "$VFPTCTL" status
expect_in "it says there is no bus" "$W/err" 'cannot connect to the system bus'
kill -0 "$VFPTD_PID" 2>/dev/null && pass || fail "vfptd died with the bus: $(tail "$W/vfptd.log")"
: >"$W/bus.address"
start_bus "$W/bus.conf"
if wait_name; then pass; else fail "vfptd did not come back when the bus did: $(tail "$W/vfptd.log")"; fi
expect_rc "status after the bus came back" 0 -- "$VFPTCTL" status

# --- vfptctl's usage and the missing daemon --------------------------------------------
expect_rc "vfptctl without a command" 2 -- "$VFPTCTL"
expect_rc "vfptctl with an unknown command" 2 -- "$VFPTCTL" frobnicate
expect_rc "claim without an address" 2 -- "$VFPTCTL" claim
expect_rc "an option that does not apply" 2 -- "$VFPTCTL" status --persist
expect_rc "an unknown option" 2 -- "$VFPTCTL" status --frob
for c in status groups check plan claim release reload qemu-args; do
        expect_rc "vfptctl $c --help" 0 -- "$VFPTCTL" "$c" --help
        expect_in "vfptctl $c --help shows its usage" "$W/out" "^Usage: vfptctl $c"
        expect_in "vfptctl $c --help documents exit codes" "$W/out" '^Exit status: 0 success'
done
kill "$VFPTD_PID"
wait "$VFPTD_PID" 2>/dev/null
expect_rc "status with the bus but no vfptd" 4 -- "$VFPTCTL" status
expect_in "it says vfptd is not running" "$W/err" 'vfptd is not running'
expect_rc "claim with the bus but no vfptd" 4 -- "$VFPTCTL" claim 03:00.0

# Under sanitizers, what they found is in the logs of the processes that exited.
for log in "$W/vfptd.log"; do
        if grep -Eq 'Sanitizer|runtime error:' "$log"; then
                fail "a sanitizer reported in $(basename "$log"): $(grep -E -A5 'Sanitizer|runtime error:' "$log")"
        else
                pass
        fi
done

if [ "$failures" -ne 0 ]; then
        echo "--- vfptd log:"; cat "$W/vfptd.log"
        echo "--- signals:"; cat "$W/mon"
        echo "$failures of $((checks + failures)) checks failed" >&2
        exit 1
fi
echo "all $checks bus checks passed"
