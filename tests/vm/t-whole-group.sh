#!/bin/bash
# Scenario 2 — whole group: a rule that lists ONE endpoint behind the
# pcie-pci-bridge (by address, found in the guest) claims the whole IOMMU
# group: both endpoints end on vfio-pci, the bridge is left alone (vfio-pci
# refuses bridges) and the group is viable.  With group = strict the same
# rule is refused and both endpoints stay on their drivers.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init whole-group "$1"
vm_disk_new
vm_boot

vm_bridge_endpoints 4
bridge=$VM_BRIDGE
e1000=$(vm_find_one 8086:100e)
rtl=$(vm_find_one 10ec:8139)
assert_match "the e1000 is behind the bridge" "^$e1000\$" "$(printf '%s\n' "${VM_BEHIND[@]}")"
assert_match "the rtl8139 is behind the bridge" "^$rtl\$" "$(printf '%s\n' "${VM_BEHIND[@]}")"
assert_eq "bridge + both endpoints form one IOMMU group" "$(printf '%s\n' "$bridge" "${VM_BEHIND[@]}" | sort)" \
	"$(vm_run vfpt-test-pci members "$e1000" | sort)"
bridge_drv=$(vm_driver "$bridge")
e1000_drv=$(vm_driver "$e1000")
rtl_drv=$(vm_driver "$rtl")
vm_log "before: bridge $bridge on $bridge_drv, e1000 $e1000 on $e1000_drv, rtl8139 $rtl on $rtl_drv"
assert_ne "the e1000 starts on a host driver" none "$e1000_drv"

# --- group = claim (default) ---
vm_conf_live 50-behind-bridge '[behind-bridge]' "addresses = $e1000"
vm_run systemctl restart vfptd >/dev/null
assert_eq "vfptd is active" active "$(vm_run systemctl is-active vfptd)"
assert_driver "$e1000" vfio-pci "the listed e1000"
assert_driver "$rtl" vfio-pci "the unlisted rtl8139 in the same group"
assert_driver "$bridge" "$bridge_drv" "the bridge (untouched)"
assert_eq "the bridge has no driver_override" "(null)" "$(vm_run vfpt-test-pci override "$bridge")"
assert_guest "vfio-probe: group viable via the e1000" "vfio-probe $e1000"
assert_guest "vfio-probe: group viable via the rtl8139" "vfio-probe $rtl"
assert_match "status line counts two devices in one group" \
	'^2 devices in 1 groups? bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$(vm_status)"

# --- group = strict: boot again with the rule made strict ---
vm_conf_live 50-behind-bridge '[behind-bridge]' "addresses = $e1000" 'group = strict'
vm_reboot
assert_driver "$e1000" "$e1000_drv" "strict: the e1000"
assert_driver "$rtl" "$rtl_drv" "strict: the rtl8139"
assert_driver "$bridge" "$bridge_drv" "strict: the bridge"
journal=$(vm_journal_vfptd)
vm_log "vfptd journal:"$'\n'"$journal"
assert_match "strict: the refusal names the rule and the unlisted member" \
	"refused.*rule 'behind-bridge'.*$rtl|$rtl.*rule 'behind-bridge'|refused.*rule 'behind-bridge'.*strict" "$journal"
assert_match "strict: status line counts a refusal" '; [1-9][0-9]* refused;' "$(vm_status)"
assert_eq "strict: vfptd is active" active "$(vm_run systemctl is-active vfptd)"

vm_poweroff
vm_pass
