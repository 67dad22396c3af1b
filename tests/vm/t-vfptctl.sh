#!/bin/bash
# vfptctl and the D-Bus service on a real system bus: with the xhci claimed
# at boot, `vfptctl status` shows it claimed, `groups` marks its group
# usable, `check` reports the host ready (intel_iommu=on, intremap=on, vfio
# modules), `qemu-args` prints its -device option, busctl introspects
# org.vfpt1, a non-root `vfptctl claim` is refused with access denied and
# changes nothing, and --json output parses (checked on the host).  The text
# of `status` and `groups` is kept in the run directory (vfptctl-samples.txt)
# for the README.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init vfptctl "$1"
vm_disk_new
vm_conf 50-xhci '[xhci]' 'ids = 1b36:000d'
vm_boot

xhci=$(vm_find_one 1b36:000d)
nic2=$(vm_addr_in_slot 2)
group=$(vm_run vfpt-test-pci group "$xhci")
assert_driver "$xhci" vfio-pci "the xhci (claimed at boot)"
# dbus comes up after vfptd; give the bus connection a moment.
vm_wait_guest 30 'timeout 10 vfptctl status >/dev/null 2>&1' || true

# ctl CMD... — run vfptctl in the guest; sets CTL_OUT and CTL_RC.
ctl() {
	CTL_OUT=$(vm_run "timeout 30 vfptctl $*")
	CTL_RC=$?
	vm_log "vfptctl $* (exit $CTL_RC):"$'\n'"$CTL_OUT"
}

ctl status
status_text=$CTL_OUT
assert_eq "vfptctl status: exit 0" 0 "$CTL_RC"
assert_match "vfptctl status: the xhci is claimed" "$xhci.*claimed" "$CTL_OUT"
assert_match "vfptctl status: ... by rule xhci" "$xhci.*xhci" "$CTL_OUT"
assert_no_match "vfptctl status: no e1000e listed as claimed" "$nic2.*claimed" "$CTL_OUT"

ctl groups
groups_text=$CTL_OUT
assert_eq "vfptctl groups: exit 0" 0 "$CTL_RC"
assert_match "vfptctl groups: the xhci's group is usable" "^group $group: usable for passthrough\$" "$CTL_OUT"
assert_match "vfptctl groups: the xhci on vfio-pci under it" "^  $xhci  1b36:000d  vfio-pci" "$CTL_OUT"
assert_match "vfptctl groups: an e1000e's group is not usable (on e1000e)" \
	"^group [0-9]+: not usable for passthrough: $nic2 is on e1000e\$" "$CTL_OUT"
ngroups=$(vm_run 'ls /sys/kernel/iommu_groups | wc -l')
assert_eq "vfptctl groups: one header per IOMMU group" "$ngroups" "$(printf '%s\n' "$CTL_OUT" | grep -c '^group [0-9]*:')"

ctl check
assert_eq "vfptctl check: exit 0 (ready)" 0 "$CTL_RC"
assert_match "vfptctl check: says ready" '^ready for passthrough$' "$CTL_OUT"
assert_match "vfptctl check: interrupt remapping on" '^ok .*(interrupt remapping|remap).*: on' "$CTL_OUT"
assert_no_match "vfptctl check: no failed check" '^FAIL' "$CTL_OUT"

ctl qemu-args
assert_eq "vfptctl qemu-args: exit 0" 0 "$CTL_RC"
assert_match "vfptctl qemu-args: -device vfio-pci,host= for the xhci" "^-device vfio-pci,host=(0000:)?${xhci#0000:}\$" "$CTL_OUT"

intro=$(vm_run 'timeout 30 busctl introspect org.vfpt1 /org/vfpt1')
rc=$?
vm_log "busctl introspect org.vfpt1 /org/vfpt1 (exit $rc):"$'\n'"$intro"
assert_eq "busctl introspect: exit 0" 0 "$rc"
assert_match "busctl introspect: org.vfpt1.Manager" '^org\.vfpt1\.Manager +interface' "$intro"
assert_match "busctl introspect: its Claim method" '^\.Claim +method +s ' "$intro"
assert_match "busctl introspect: its Devices property" '^\.Devices +property +ao ' "$intro"
assert_guest "busctl: the Manager's Devices hold an object" \
	"timeout 30 busctl get-property org.vfpt1 /org/vfpt1 org.vfpt1.Manager Devices | grep -Eq '^ao [1-9]'"

out=$(vm_run "timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups vfptctl claim $nic2")
rc=$?
vm_log "vfptctl claim $nic2 as nobody (exit $rc): $out"
assert_eq "vfptctl claim as nobody: exit 1 (refused)" 1 "$rc"
assert_match "vfptctl claim as nobody: access denied" '([Aa]ccess denied|AccessDenied|root only|only root)' "$out"
assert_driver "$nic2" e1000e "the e1000e nobody tried to claim"
assert_eq "... with no driver_override" "(null)" "$(vm_run vfpt-test-pci override "$nic2")"
assert_guest "... and no runtime claim file" '! ls /run/vfpt.d/*.conf 2>/dev/null | grep -q .'
assert_guest "vfptctl status as nobody works (reading is for everyone)" \
	"timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups vfptctl status | grep -q '$xhci'"

# JSON: python3 is not in the guest; the host parses it.
json_ok() { python3 -c 'import json, sys; json.load(sys.stdin)' 2>&1; }
for cmd in 'status --json' 'groups --json' 'check --json'; do
	j=$(vm_run "timeout 30 vfptctl $cmd")
	printf '%s\n' "$j" >"$VM_RUN/vfptctl-${cmd%% *}.json"
	if command -v python3 >/dev/null; then
		err=$(printf '%s' "$j" | json_ok)
		assert_eq "vfptctl $cmd parses as JSON" "" "$err"
	else
		vm_log "no python3 on the host: vfptctl $cmd not parsed"
	fi
done
assert_match "vfptctl status --json names the xhci" "\"$xhci\"" "$(cat "$VM_RUN/vfptctl-status.json")"

{
	echo "# vfptctl status (tests/vm guest, rule [xhci] ids = 1b36:000d)"
	printf '%s\n' "$status_text"
	echo
	echo "# vfptctl groups"
	printf '%s\n' "$groups_text"
} >"$VM_RUN/vfptctl-samples.txt"
vm_log "samples for the README: $VM_RUN/vfptctl-samples.txt"

vm_poweroff
vm_pass
