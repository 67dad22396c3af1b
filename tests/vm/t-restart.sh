#!/bin/bash
# A restart of vfptd lets go of nothing: with the xhci (claimed at boot) and
# an e1000e (claimed after boot, so its record says e1000e) on vfio-pci,
# `systemctl restart vfptd` causes no unbind or bind (kernel uevents watched
# with udevadm monitor, kernel log), the drivers, the status line and the
# records under /run/vfptd/devices stay the same.  Then the e1000e's rule is
# removed and vfptd reloaded: the record that outlived the restart sends it
# back to e1000e.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init restart "$1"
vm_disk_new
vm_conf 50-xhci '[xhci]' 'ids = 1b36:000d'
vm_boot
vm_kill_shim

xhci=$(vm_find_one 1b36:000d)
nic1=$(vm_addr_in_slot 1)
nic2=$(vm_addr_in_slot 2)
assert_driver "$xhci" vfio-pci "the xhci (claimed at boot)"
vm_conf_live 60-one-nic '[one-nic]' "addresses = $nic1"
assert_guest "systemctl reload vfptd (claim the slot-1 e1000e)" systemctl reload vfptd
vm_wait_driver "$nic1" vfio-pci 20 || true
assert_driver "$nic1" vfio-pci "the slot-1 e1000e"
records() { vm_run 'cd /run/vfptd/devices 2>/dev/null && for f in *; do echo "$f=$(cat "$f")"; done'; }
records1=$(records)
status1=$(vm_status)
pid1=$(vm_run systemctl show -p MainPID --value vfptd)
vm_log "before the restart: $status1; pid $pid1; records: ${records1//$'\n'/ }"
assert_match "the e1000e's record names e1000e" "^$nic1=e1000e\$" "$records1"

cursor=$(vm_journal_cursor)
vm_run 'udevadm monitor -k -p -s pci </dev/null >/run/restart-mon.log 2>&1 & echo $! >/run/restart-mon.pid; sleep 0.5' >/dev/null
out=$(vm_run 'read -r t0 _ </proc/uptime; systemctl restart vfptd; rc=$?; read -r t1 _ </proc/uptime; echo "restart_rc=$rc t0=$t0 t1=$t1"')
vm_log "systemctl restart vfptd: $out"
assert_match "systemctl restart vfptd succeeded" '^restart_rc=0 ' "$out"
sleep 3 # a pass after the restart that (wrongly) changed something would be over
vm_run 'kill $(cat /run/restart-mon.pid)' >/dev/null
pid2=$(vm_run systemctl show -p MainPID --value vfptd)
assert_ne "vfptd runs with a new pid" "$pid1" "$pid2"
assert_eq "vfptd is active" active "$(vm_run systemctl is-active vfptd)"
mon=$(vm_run cat /run/restart-mon.log)
printf '%s\n' "$mon" >"$VM_RUN/restart-uevents.txt"
assert_no_match "no bind/unbind uevent for the claimed devices during the restart" \
	"^KERNEL\[[0-9.]+\] (bind|unbind|remove|add) .*/($xhci|$nic1) \(pci\)" "$mon"
after=$(vm_journal_after "$cursor")
printf '%s\n' "$after" >"$VM_RUN/journal-restart.txt"
vm_log "vfptd journal of the restart:"$'\n'"$(printf '%s\n' "$after" | grep -E 'vfptd' | head -n 20)"
assert_no_match "the kernel log has no host-driver probe of them" "kernel: (e1000e $nic1|xhci_hcd $xhci)" "$after"
assert_no_match "vfptd did not unbind or release anything" "($xhci|$nic1).*(released to|took it|unbind)" "$after"
assert_driver "$xhci" vfio-pci "the xhci after the restart"
assert_driver "$nic1" vfio-pci "the slot-1 e1000e after the restart"
assert_driver "$nic2" e1000e "the slot-2 e1000e after the restart"
assert_eq "the same status line" "$status1" "$(vm_status)"
assert_eq "the same records" "$records1" "$(records)"
assert_guest "vfio-probe: the e1000e's group is usable" "vfio-probe $nic1"

vm_run rm /etc/vfpt.d/60-one-nic.conf >/dev/null
assert_guest "systemctl reload vfptd (the e1000e's rule removed)" systemctl reload vfptd
vm_wait_driver "$nic1" e1000e 20 || true
assert_driver "$nic1" e1000e "the released e1000e (its record outlived the restart)"
assert_guest "its network interface is back" "ls /sys/bus/pci/devices/$nic1/net | grep -q ."
assert_eq "its driver_override is cleared" "(null)" "$(vm_run vfpt-test-pci override "$nic1")"
assert_driver "$xhci" vfio-pci "the xhci (its rule stays)"
assert_match "vfptd logged the release to e1000e" "$nic1 .*released to e1000e" "$(vm_journal_after "$cursor" -u vfptd)"

vm_poweroff
vm_pass
