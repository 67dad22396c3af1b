#!/bin/bash
# Scenario 6 — persistence: the same image booted a second time claims the
# same devices again (records under /run are gone; the config is enough).
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init persistence "$1"
vm_disk_new
vm_conf 50-xhci '[xhci]' 'ids = 1b36:000d'
vm_conf 60-bridge '[bridge-nics]' 'ids = 8086:100e'
vm_boot

claimed() {
	local a
	for a in $(vm_run vfpt-test-pci find 1b36:000d) $(vm_run vfpt-test-pci find 8086:100e) \
		$(vm_run vfpt-test-pci find 10ec:8139); do
		printf '%s=%s ' "$a" "$(vm_driver "$a")"
	done
}
first=$(claimed)
status1=$(vm_status)
records1=$(vm_run 'ls /run/vfptd/devices 2>/dev/null | sort')
vm_log "boot 1: $first / $status1 / records: ${records1//$'\n'/ }"
assert_no_match "boot 1: every listed device (and its group) is on vfio-pci" '=[^v ]' "$first"
assert_match "boot 1: status line" '^3 devices in 2 groups bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$status1"

vm_reboot
assert_eq "boot 2: the same devices on the same drivers" "$first" "$(claimed)"
assert_eq "boot 2: the same status line" "$status1" "$(vm_status)"
assert_eq "boot 2: the same records" "$records1" "$(vm_run 'ls /run/vfptd/devices 2>/dev/null | sort')"
assert_guest "boot 2: vfio-probe (xhci)" "vfio-probe $(vm_find_one 1b36:000d)"
assert_guest "boot 2: vfio-probe (bridge group)" "vfio-probe $(vm_find_one 8086:100e)"

vm_poweroff
vm_pass
