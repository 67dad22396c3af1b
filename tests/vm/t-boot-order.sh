#!/bin/bash
# Scenario 5 — boot ordering: an e1000e claimed by address at boot is never
# bound to the e1000e driver, because vfptd set its driver_override before
# udev's coldplug loaded the module.  Proof: the kernel log of that boot has
# e1000e probe messages for the other e1000e but none for the claimed one.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init boot-order "$1"
vm_disk_new
vm_boot
nic1=$(vm_addr_in_slot 1)
nic2=$(vm_addr_in_slot 2)
vm_conf_live 50-one-nic '[one-nic]' "addresses = $nic1"
vm_reboot

assert_driver "$nic1" vfio-pci "the claimed e1000e"
assert_driver "$nic2" e1000e "the other e1000e"
klog=$(vm_run journalctl -k -b --no-pager -o short-monotonic)
assert_match "control: the kernel log shows e1000e probing the other NIC" "e1000e $nic2" "$klog"
assert_no_match "the e1000e driver never touched the claimed NIC this boot" "e1000e $nic1" "$klog"
assert_match "udev's database has the claimed NIC on vfio-pci" '^DRIVER=vfio-pci$' \
	"$(vm_run udevadm info -q property -p "/sys/bus/pci/devices/$nic1")"
order=$(vm_run 'journalctl -b --no-pager -o short-monotonic | grep -E "vfptd|Coldplug|udev-trigger" | head -n 20')
vm_log "journal around coldplug:"$'\n'"$order"
assert_guest "vfptd started before systemd-udev-trigger" \
	'test "$(systemctl show -p ExecMainStartTimestampMonotonic --value vfptd)" -lt "$(systemctl show -p ExecMainStartTimestampMonotonic --value systemd-udev-trigger)"'
assert_no_match "vfptd did not have to unbind a host driver" "$nic1.*(unbind|from e1000e|was e1000e)" "$(vm_journal_vfptd)"

vm_poweroff
vm_pass
