#!/bin/bash
# The watchdog on the real systemd: vfptd's event loop is made to hang
# (tests/vm/fault-preload.c, VFPT_FAULT_STALL: the next epoll_wait never
# returns), with WatchdogSec shortened to 5 s for the test.  While it hangs,
# a claimed e1000e is put back on e1000e by hand and nobody takes it back
# (the loop that would is stuck).  systemd must notice the missing watchdog
# pings, kill vfptd and start it again; the new vfptd takes the e1000e back
# to vfio-pci, and the group is usable.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init watchdog "$1"
vm_disk_new
vm_boot
vm_kill_shim

nic1=$(vm_addr_in_slot 1)
stall=/run/vfptd/stall
vm_conf_live 50-one-nic '[one-nic]' "addresses = $nic1"
vm_run "mkdir -p /run/systemd/system/vfptd.service.d
printf '%s\n' '[Service]' 'WatchdogSec=5s' 'Environment=LD_PRELOAD=/usr/local/lib/vfpt-fault-preload.so' \
	'Environment=VFPT_FAULT_STALL=$stall' >/run/systemd/system/vfptd.service.d/fault.conf
systemctl daemon-reload && systemctl restart vfptd" >/dev/null || vm_fail "cannot restart vfptd with the fault preload"
vm_wait_driver "$nic1" vfio-pci 20 || true
assert_driver "$nic1" vfio-pci "the listed e1000e, claimed"
assert_eq "vfptd runs with WatchdogSec=5s" 5s "$(vm_run systemctl show -p WatchdogUSec --value vfptd)"
pid1=$(vm_run systemctl show -p MainPID --value vfptd)
restarts1=$(vm_run systemctl show -p NRestarts --value vfptd)

cursor=$(vm_journal_cursor)
vm_run "touch $stall" >/dev/null
# The loop wakes for its own watchdog ping within a few seconds and stalls.
vm_wait_guest 10 "[ ! -e $stall ]" || vm_fail "the event loop never reached epoll_wait again (the stall file is still there)"
vm_ok "the event loop is stuck (pid $pid1)"
out=$(vm_run "a=$nic1; d=/sys/bus/pci/devices/\$a
echo > \$d/driver_override
echo \$a > /sys/bus/pci/drivers/vfio-pci/unbind
echo \$a > /sys/bus/pci/drivers/e1000e/bind && echo bound")
assert_match "the hand-made bind to e1000e while vfptd hangs" '^bound$' "$out"
sleep 1
assert_driver "$nic1" e1000e "the e1000e 1 s later (nobody undid it: the loop hangs)"
assert_eq "vfptd is still the same process" "$pid1" "$(vm_run systemctl show -p MainPID --value vfptd)"

vm_wait_guest 40 "pid=\$(systemctl show -p MainPID --value vfptd); [ \"\$pid\" != 0 ] && [ \"\$pid\" != $pid1 ] && [ \"\$(systemctl is-active vfptd)\" = active ]" ||
	vm_fail "systemd did not restart the hung vfptd within 40 s: $(vm_run systemctl status --no-pager vfptd | head -n 12)"
after=$(vm_journal_after "$cursor")
printf '%s\n' "$after" >"$VM_RUN/journal-watchdog.txt"
assert_match "systemd says the watchdog fired" 'vfptd.service: Watchdog timeout' "$after"
assert_ne "systemd counted a restart" "$restarts1" "$(vm_run systemctl show -p NRestarts --value vfptd)"
vm_wait_driver "$nic1" vfio-pci 30 || true
assert_driver "$nic1" vfio-pci "the e1000e, taken back by the restarted vfptd"
assert_guest "vfio-probe: its group is usable" "vfio-probe $nic1"
vm_log "watchdog: $(printf '%s\n' "$after" | grep -E 'Watchdog timeout|Scheduled restart|Started vfptd|Killing' | head -n 5 | tr '\n' '|')"

vm_poweroff
vm_pass
