#!/bin/bash
# A broken configuration on reload is rejected whole: with one e1000e
# claimed, a drop-in with a syntax error (and a rule that would claim the
# other e1000e) is added and vfptd reloaded.  The journal names the file and
# line, no device changes driver, vfptd stays active and keeps its running
# configuration; removing the file and reloading again gives the old status.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init reload-broken "$1"
vm_disk_new
vm_boot
vm_kill_shim

nic1=$(vm_addr_in_slot 1)
nic2=$(vm_addr_in_slot 2)
vm_conf_live 50-one-nic '[one-nic]' "addresses = $nic1"
assert_guest "systemctl reload vfptd (claim the slot-1 e1000e)" systemctl reload vfptd
vm_wait_driver "$nic1" vfio-pci 20 || true
assert_driver "$nic1" vfio-pci "the listed e1000e"
assert_driver "$nic2" e1000e "the other e1000e"
table_before=$(vm_pci_state)
status_before=$(vm_status)
pid_before=$(vm_run systemctl show -p MainPID --value vfptd)
vm_log "before: $status_before (pid $pid_before)"

# Line 3 is not "key = value"; the rule above it would take the other NIC
# (and its group) if the file were accepted.
vm_conf_live 90-broken '[both-nics]' 'ids = 8086:10d3' 'this line is not a key and a value'
cursor=$(vm_journal_cursor)
out=$(vm_run 'systemctl reload vfptd; echo "reload_rc=$?"')
vm_log "systemctl reload with the broken file: $(printf '%s' "$out" | tr '\n' ' ')"
sleep 3 # a reload that (wrongly) applied something would do it by now
journal=$(vm_journal_after "$cursor" -u vfptd)
vm_log "vfptd journal of the reload:"$'\n'"$journal"
assert_match "the journal names the file and line of the error" '/etc/vfpt\.d/90-broken\.conf:3' "$journal"
assert_match "the journal says the reload was rejected" 'Reload rejected' "$journal"
assert_no_match "no claim or release was logged" '(bound to|released to|took it)' "$journal"
assert_eq "no device changed driver or driver_override" "$table_before" "$(vm_pci_state)"
assert_driver "$nic2" e1000e "the NIC the broken file names"
assert_guest "... keeps its network interface" "ls /sys/bus/pci/devices/$nic2/net | grep -q ."
assert_eq "... and has no driver_override" "(null)" "$(vm_run vfpt-test-pci override "$nic2")"
assert_eq "vfptd stays active" active "$(vm_run systemctl is-active vfptd)"
assert_eq "vfptd was not restarted (same pid)" "$pid_before" "$(vm_run systemctl show -p MainPID --value vfptd)"
status=$(vm_status)
vm_log "status line after the rejected reload: $status"
assert_match "the status line still counts the running configuration" '1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$status"

vm_run rm /etc/vfpt.d/90-broken.conf >/dev/null
assert_guest "systemctl reload vfptd (the broken file removed)" systemctl reload vfptd
vm_wait_guest 10 "systemctl show -p StatusText --value vfptd | grep -q '^1 device in 1 group'" || true
assert_eq "the status line is the old one again" "$status_before" "$(vm_status)"
assert_eq "the devices are as they were" "$table_before" "$(vm_pci_state)"

vm_poweroff
vm_pass
