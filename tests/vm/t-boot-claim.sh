#!/bin/bash
# Scenario 1 — boot-time claim by ID: a drop-in that names the qemu-xhci by
# vendor:device puts it on vfio-pci during boot; vfptd is active and says so
# in its status line; the group's /dev/vfio node exists and a VFIO user can
# take the group.  Nothing else is touched.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init boot-claim "$1"
vm_disk_new
vm_conf 50-xhci '[xhci]' 'ids = 1b36:000d'
vm_boot

xhci=$(vm_addr_in_slot 3)
assert_eq "slot 3 holds the only qemu-xhci" "$xhci" "$(vm_find_one 1b36:000d)"
assert_eq "vfptd is active" active "$(vm_run systemctl is-active vfptd)"
status=$(vm_run systemctl status vfptd --no-pager)
vm_log "systemctl status vfptd:"$'\n'"$status"
assert_match "systemctl status shows the status line" \
	'Status: "1 devices? in 1 groups? bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$status"
assert_driver "$xhci" vfio-pci "the qemu-xhci"
group=$(vm_run vfpt-test-pci group "$xhci")
assert_guest "/dev/vfio/$group exists" "test -c /dev/vfio/$group"
assert_guest "vfio-probe: the group is viable and usable" "vfio-probe $xhci"
assert_driver "$(vm_addr_in_slot 1)" e1000e "the first e1000e (not listed)"
assert_driver "$(vm_addr_in_slot 2)" e1000e "the second e1000e (not listed)"

vm_poweroff
vm_pass
