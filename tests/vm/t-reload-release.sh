#!/bin/bash
# Release on reload: an e1000e claimed by a rule goes back to e1000e, with
# its network interface and no driver_override, when its rule file is
# removed and vfptd reloaded.  `systemctl reload vfptd` returns only after
# vfptd said READY=1 again (RELOADING=1 ... READY=1), so the release is
# already done when it returns: the state is read at once, without polling.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init reload-release "$1"
vm_disk_new
vm_boot
vm_kill_shim

nic1=$(vm_addr_in_slot 1)
nic2=$(vm_addr_in_slot 2)
assert_guest "the slot-1 e1000e starts with a network interface" "ls /sys/bus/pci/devices/$nic1/net | grep -q ."
vm_conf_live 50-one-nic '[one-nic]' "addresses = $nic1"
assert_guest "systemctl reload vfptd (claim it)" systemctl reload vfptd
vm_wait_driver "$nic1" vfio-pci 20 || true
assert_driver "$nic1" vfio-pci "the listed e1000e"
assert_guest "its network interface is gone" "! test -e /sys/bus/pci/devices/$nic1/net"
assert_eq "its original driver is recorded" e1000e "$(vm_run "cat /run/vfptd/devices/$nic1 2>&1")"

cursor=$(vm_journal_cursor)
out=$(vm_run "rm /etc/vfpt.d/50-one-nic.conf
read -r t0 _ </proc/uptime
systemctl reload vfptd; rc=\$?
read -r t1 _ </proc/uptime
echo \"reload_rc=\$rc t0=\$t0 t1=\$t1\"
echo \"driver=\$(vfpt-test-pci driver $nic1)\"
echo \"override=\$(vfpt-test-pci override $nic1)\"
echo \"net=\$(ls /sys/bus/pci/devices/$nic1/net 2>/dev/null | tr '\n' ' ')\"
echo \"state=\$(systemctl is-active vfptd)\"")
vm_log "rule removed, reloaded; read at once:"$'\n'"$out"
t0=$(printf '%s\n' "$out" | sed -n 's/.* t0=\([0-9.]*\).*/\1/p')
t1=$(printf '%s\n' "$out" | sed -n 's/.* t1=\([0-9.]*\).*/\1/p')
vm_log "systemctl reload took $(vm_ms "$t0" "$t1") ms"
assert_match "systemctl reload vfptd succeeded" '^reload_rc=0 ' "$out"
assert_match "when systemctl reload returned, the device was already on e1000e" '^driver=e1000e$' "$out"
assert_match "... with its driver_override cleared" '^override=\(null\)$' "$out"
assert_match "... and its network interface back" '^net=[a-z]' "$out"
assert_match "... and vfptd active" '^state=active$' "$out"

journal=$(vm_journal_after "$cursor")
printf '%s\n' "$journal" >"$VM_RUN/journal-release.txt"
vm_log "journal of the reload:"$'\n'"$(printf '%s\n' "$journal" | grep -E 'vfptd' | head -n 20)"
assert_match "vfptd logged the release to e1000e" "$nic1 .*released to e1000e" "$journal"
# systemd's "Reloaded" comes after vfptd's release line: the job waited.
order=$(printf '%s\n' "$journal" | grep -nE "($nic1 .*released to e1000e|Reloaded vfptd.service)" | cut -d: -f2- | sed -E 's/^\[[ 0-9.]+\] //')
assert_match "systemd finished the reload job after the release (journal order)" \
	"released to e1000e.*"$'\n'".*Reloaded vfptd.service" "$(printf '%s\n' "$order" | tr '\n' '\001' | sed 's/\x01/\n/g')"
assert_guest "driver_override is empty" "[ \"\$(vfpt-test-pci override $nic1)\" = '(null)' ]"
vm_log "records after the release: $(vm_run 'ls /run/vfptd/devices 2>&1 | tr "\n" " "')"
assert_match "the status line has nothing claimed" '^0 devices in 0 groups bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$(vm_status)"
assert_driver "$nic2" e1000e "the other e1000e (untouched)"
assert_guest "an interface of the released NIC can be brought up" \
	"ip link set \$(ls /sys/bus/pci/devices/$nic1/net | head -n1) up"

vm_poweroff
vm_pass
