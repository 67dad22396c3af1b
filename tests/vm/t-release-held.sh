#!/bin/bash
# No release from under a user: a claimed e1000e whose IOMMU group a process
# holds open (vfio-probe --hold, as QEMU would) stays on vfio-pci when its
# rule goes away; vfptd names the holder's pid and command in the journal
# (unbinding a held device would block in the kernel).  Once the holder is
# gone, a reload releases it to e1000e.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init release-held "$1"
vm_disk_new
vm_boot
vm_kill_shim

nic1=$(vm_addr_in_slot 1)
vm_conf_live 50-one-nic '[one-nic]' "addresses = $nic1"
assert_guest "systemctl reload vfptd (claim the slot-1 e1000e)" systemctl reload vfptd
vm_wait_driver "$nic1" vfio-pci 20 || true
assert_driver "$nic1" vfio-pci "the listed e1000e"
group=$(vm_run vfpt-test-pci group "$nic1")

# The holder runs in the background, its output in a file.
holder=$(vm_run "nohup vfio-probe --hold 120 $nic1 </dev/null >/run/holder.log 2>&1 & echo \$!")
[[ $holder =~ ^[0-9]+$ ]] || vm_fail "cannot start the holder: $holder"
vm_wait_guest 30 "grep -q 'holds /dev/vfio/$group' /run/holder.log" ||
	vm_fail "the holder did not get the group: $(vm_run cat /run/holder.log)"
vm_log "holder: $(vm_run cat /run/holder.log | tail -n 1)"
assert_guest "the holder (pid $holder) has /dev/vfio/$group open" "ls -l /proc/$holder/fd | grep -q '/dev/vfio/$group\$'"

# Diagnostic: vfptd finds holders by reading /proc/PID/fd; can a process
# with vfptd.service's capability bounding set read the holder's?
seen=$(vm_run "systemd-run --quiet --wait --pipe -p NoNewPrivileges=yes \
	-p 'CapabilityBoundingSet=CAP_SYS_MODULE CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_SYS_ADMIN' \
	ls -l /proc/$holder/fd 2>&1 | grep -E 'vfio|denied' | head -n 3")
vm_log "with vfptd's capabilities, /proc/$holder/fd reads: ${seen:-(nothing)}"

cursor=$(vm_journal_cursor)
vm_run rm /etc/vfpt.d/50-one-nic.conf >/dev/null
out=$(vm_run 'timeout 60 systemctl reload vfptd; echo "reload_rc=$?"')
vm_log "systemctl reload with the group held: $(printf '%s' "$out" | tr '\n' ' ')"
assert_match "systemctl reload returned (did not hang on the held device)" '^reload_rc=' "$out"
vm_wait_guest 20 "journalctl -b -u vfptd --no-pager -o cat | grep -q 'pid $holder'" || true
journal=$(vm_journal_after "$cursor" -u vfptd)
vm_log "vfptd journal since the rule went:"$'\n'"$journal"
# vfio-pci says this when its remove() waits for the group's user: the
# unbind vfptd must never attempt on a held group.  Read from the serial
# console (one boot here): journald itself may stall on the locked device.
assert_no_match "vfptd did not try to unbind the held device (kernel log)" \
	"vfio-pci $nic1: .*blocked until released by user" "$(cat "$VM_RUN/serial.log")"
assert_match "the journal names the holder's pid and command" "(pid $holder \(vfio-probe\)|vfio-probe.*$holder)" "$journal"
assert_driver "$nic1" vfio-pci "the held e1000e (not released)"
assert_guest "the holder is still running" "kill -0 $holder"
assert_eq "vfptd is active" active "$(vm_run systemctl is-active vfptd)"
assert_guest "vfptd's event loop still answers (status on the bus)" 'timeout 20 vfptctl status >/dev/null'
vm_log "status line while held: $(vm_status)"
vm_log "vfptctl status while held:"$'\n'"$(vm_run 'timeout 20 vfptctl status')"

assert_guest "kill the holder" "kill $holder"
vm_wait_guest 20 "! kill -0 $holder 2>/dev/null" || vm_fail "the holder $holder did not exit"
assert_guest "systemctl reload vfptd (holder gone)" 'timeout 60 systemctl reload vfptd'
vm_wait_driver "$nic1" e1000e 30 || true
assert_driver "$nic1" e1000e "the released e1000e"
assert_guest "its network interface is back" "ls /sys/bus/pci/devices/$nic1/net | grep -q ."
assert_eq "its driver_override is cleared" "(null)" "$(vm_run vfpt-test-pci override "$nic1")"
journal=$(vm_journal_after "$cursor" -u vfptd)
assert_match "vfptd logged the release" "$nic1 .*released to e1000e" "$journal"
vm_wait_guest 10 "systemctl show -p StatusText --value vfptd | grep -q '^0 devices'" || true
assert_match "the status line has nothing claimed or failed" '^0 devices in 0 groups bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$(vm_status)"

vm_poweroff
vm_pass
