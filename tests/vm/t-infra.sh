#!/bin/bash
# The test bed itself, independent of vfptd: the guest boots to multi-user
# with a real IOMMU, the command channel returns output and exit status,
# QMP hotplug reaches the guest, and a device bound to vfio-pci by hand
# (driver_override, unbind, drivers_probe) makes a group that vfio-probe
# finds viable — while a group with a member on a host driver is not.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init infra "$1"
vm_disk_new
vfptd_unit=$(debugfs -R 'stat /usr/lib/systemd/system/vfptd.service' "$VM_DISK" 2>/dev/null | grep -c 'Type: regular')
[ "$vfptd_unit" = 1 ] && VM_APPEND="systemd.mask=vfptd.service"   # hands off the devices here
vm_boot

assert_eq "command channel returns output" "hello world" "$(vm_run echo hello world)"
vm_run 'exit 3'
assert_eq "command channel returns the exit status" 3 "$?"
assert_match "the IOMMU is on (DMAR)" 'DMAR.*(IOMMU enabled|Intel\(R\) Virtualization Technology for Directed I/O)' "$(vm_run dmesg)"
assert_guest "IOMMU groups exist" 'test -n "$(ls /sys/kernel/iommu_groups)"'

xhci=$(vm_addr_in_slot 3)
assert_eq "slot 3 holds the qemu-xhci" "$xhci" "$(vm_find_one 1b36:000d)"
assert_driver "$xhci" xhci_hcd
assert_guest_fails "vfio-probe refuses a group whose device is on a host driver" \
	"modprobe vfio-pci && modprobe vfio_iommu_type1 && vfio-probe $xhci"

vm_run "echo vfio-pci >/sys/bus/pci/devices/$xhci/driver_override &&
	echo $xhci >/sys/bus/pci/devices/$xhci/driver/unbind &&
	echo $xhci >/sys/bus/pci/drivers_probe" >/dev/null
assert_driver "$xhci" vfio-pci "hand-bound xhci"
group=$(vm_run vfpt-test-pci group "$xhci")
assert_guest "/dev/vfio/$group exists" "test -c /dev/vfio/$group"
assert_guest "vfio-probe finds the hand-bound group viable" "vfio-probe $xhci"

vm_bridge_endpoints 4
assert_eq "bridge and both endpoints share one IOMMU group" 3 \
	"$(vm_run vfpt-test-pci members "$VM_BRIDGE" | grep -c .)"

t0=$SECONDS
vm_qmp '{"execute":"device_add","arguments":{"driver":"e1000e","bus":"rp5","id":"hp5","mac":"52:54:00:00:00:05"}}' >/dev/null ||
	vm_fail "device_add refused"
port5=$(vm_pci_one port 5)
vm_run "for i in \$(seq 100); do ls /sys/bus/pci/devices/$port5/ | grep -q '^0000:' && break; sleep 0.1; done" >/dev/null
hp=$(vm_pci_one under "$port5")
assert_match "the hotplugged e1000e appears behind root port 5" '^[0-9a-f]{4}:' "$hp"
vm_log "hotplugged device visible after $((SECONDS - t0)) s"
vm_qmp '{"execute":"device_del","arguments":{"id":"hp5"}}' >/dev/null
vm_run "for i in \$(seq 100); do test -e /sys/bus/pci/devices/$hp || exit 0; sleep 0.2; done; exit 1" >/dev/null
assert_guest "the unplugged device is gone" "! test -e /sys/bus/pci/devices/$hp"

vm_poweroff
vm_pass
