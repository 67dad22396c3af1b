#!/bin/bash
# Scenario 3 — identical IDs: of two e1000e with the same vendor:device, a
# rule by address takes exactly the one in that slot; the other keeps the
# e1000e driver and its network interface.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init identical-ids "$1"
vm_disk_new
vm_boot

nic1=$(vm_addr_in_slot 1)
nic2=$(vm_addr_in_slot 2)
assert_eq "both e1000e have the same IDs" "$(printf '%s\n' "$nic1" "$nic2" | sort)" \
	"$(vm_run vfpt-test-pci find 8086:10d3 | sort)"
if2=$(vm_run ls "/sys/bus/pci/devices/$nic2/net")
assert_match "the second e1000e has a network interface" '^[a-z]' "$if2"

vm_conf_live 50-one-nic '[one-nic]' "addresses = $nic1"
vm_run systemctl restart vfptd >/dev/null
assert_driver "$nic1" vfio-pci "the listed e1000e"
assert_driver "$nic2" e1000e "the other e1000e"
assert_eq "the other e1000e keeps its interface" "$if2" "$(vm_run ls "/sys/bus/pci/devices/$nic2/net")"
assert_guest "the interface still exists for ip(8)" "ip link show $if2"
assert_guest "the listed e1000e has no interface any more" "! test -e /sys/bus/pci/devices/$nic1/net"
assert_guest "vfio-probe: the listed e1000e's group is usable" "vfio-probe $nic1"
assert_match "status line" '^1 devices? in 1 groups? bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$(vm_status)"

vm_poweroff
vm_pass
