#!/bin/bash
# Hotplug: a device listed by ID that arrives after boot (QMP device_add into
# an empty root port) ends on vfio-pci, with a viable group; its removal
# leaves vfptd running.  The device (eepro100/e100) has no driver loaded
# before it appears, which is the race vfptd is built to win; whether the
# host driver bound it for a moment is reported, not asserted (TCG timing).
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init hotplug "$1"
vm_disk_new
vm_conf 50-hot '[hot]' 'ids = 8086:1209'
vm_boot

assert_match "nothing matches at boot: status line" '^0 devices in 0 groups bound to vfio-pci; 0 absent|; [01] absent;' "$(vm_status)"
port=$(vm_pci_one port 5)
vm_qmp '{"execute":"device_add","arguments":{"driver":"i82559er","bus":"rp5","id":"hot1"}}' >/dev/null ||
	vm_fail "device_add i82559er refused"
vm_run "for i in \$(seq 150); do ls /sys/bus/pci/devices/$port/ | grep -q '^0000:' && break; sleep 0.1; done" >/dev/null
hot=$(vm_pci_one under "$port")
assert_eq "the hotplugged device has the listed IDs" "$hot" "$(vm_find_one 8086:1209)"
vm_run "for i in \$(seq 100); do [ \"\$(vfpt-test-pci driver $hot)\" = vfio-pci ] && exit 0; sleep 0.1; done; exit 1" >/dev/null
assert_driver "$hot" vfio-pci "the hotplugged device"
assert_guest "vfio-probe: its group is usable" "vfio-probe $hot"
klog=$(vm_run journalctl -k -b --no-pager -o short-monotonic)
if printf '%s\n' "$klog" | grep -q "e100 $hot"; then
	vm_log "note: e100 bound $hot before vfptd took it: $(printf '%s\n' "$klog" | grep "e100 $hot" | head -n 3)"
else
	vm_log "note: e100 never bound $hot (vfptd won the race)"
fi
vm_log "vfptd journal:"$'\n'"$(vm_run journalctl -b -u vfptd --no-pager -o short-monotonic | tail -n 15)"

vm_qmp '{"execute":"device_del","arguments":{"id":"hot1"}}' >/dev/null
vm_run "for i in \$(seq 100); do test -e /sys/bus/pci/devices/$hot || exit 0; sleep 0.2; done; exit 1" >/dev/null
assert_guest "the unplugged device is gone" "! test -e /sys/bus/pci/devices/$hot"
assert_eq "vfptd survives the removal" active "$(vm_run systemctl is-active vfptd)"

vm_poweroff
vm_pass
