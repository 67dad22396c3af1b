#!/bin/bash
# Enforcement: a claimed e1000e is put back on its host driver by hand, the
# way an administrator (or a script) would: clear driver_override, unbind it
# from vfio-pci, bind it to e1000e.  vfptd sees the bind uevent and takes it
# back within 1 s, and says so once in the journal, naming the driver that
# took it.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init enforce "$1"
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

cursor=$(vm_journal_cursor)
# All in one guest command, with shell builtins only, so that the hand-made
# bind comes right after the unbind; then poll every 10 ms for vfio-pci.
out=$(vm_run "a=$nic1; d=/sys/bus/pci/devices/\$a
read -r t0 _ </proc/uptime
for try in 1 2 3 4 5; do # vfptd may win between our unbind and bind: again
	read -r t0 _ </proc/uptime
	echo > \$d/driver_override
	echo \$a > /sys/bus/pci/drivers/vfio-pci/unbind 2>/dev/null
	echo \$a > /sys/bus/pci/drivers/e1000e/bind 2>/dev/null; rc=\$?
	[ \$rc = 0 ] && break
	sleep 1
done
read -r t1 _ </proc/uptime
onhost=no; [ -e /sys/bus/pci/drivers/e1000e/\$a ] && onhost=yes
echo \"t0=\$t0 t1=\$t1 bind_rc=\$rc on_e1000e_after_bind=\$onhost\"
end=\$((SECONDS + 10)); t2=
while [ \$SECONDS -lt \$end ]; do
	if [ -e /sys/bus/pci/drivers/vfio-pci/\$a ]; then read -r t2 _ </proc/uptime; break; fi
	sleep 0.01
done
echo \"t2=\$t2\"")
vm_log "hand-made bind to e1000e:"$'\n'"$out"
t0=$(printf '%s\n' "$out" | sed -n 's/.*t0=\([0-9.]*\).*/\1/p')
t1=$(printf '%s\n' "$out" | sed -n 's/.*t1=\([0-9.]*\).*/\1/p')
t2=$(printf '%s\n' "$out" | sed -n 's/^t2=\([0-9.]*\)$/\1/p')
# bind_rc=0 is the proof that e1000e bound it (the kernel fails the write
# otherwise). vfptd may already have taken it back by the time the script
# looks (on_e1000e_after_bind=no): the pass the unbind started can meet the
# bind half-way, and still says "e1000e took it".
assert_match "the hand-made bind to e1000e succeeded (the precondition)" 'bind_rc=0 ' "$out"
[ -n "$t2" ] || vm_fail "vfptd did not take $nic1 back from e1000e within 10 s (driver now: $(vm_driver "$nic1"))"
undo=$(vm_ms "$t1" "$t2")
vm_log "unbind+bind by hand took $(vm_ms "$t0" "$t1") ms; vfptd had it back on vfio-pci $undo ms after the bind returned"
if [ "$undo" -le 1000 ]; then
	vm_ok "vfptd undid the hand-made bind within 1 s ($undo ms)"
else
	vm_fail "vfptd undid the hand-made bind only after $undo ms (> 1 s)"
fi
assert_driver "$nic1" vfio-pci "the listed e1000e, taken back"
assert_eq "its driver_override is vfio-pci again" vfio-pci "$(vm_run vfpt-test-pci override "$nic1")"
assert_guest "vfio-probe: its group is usable again" "vfio-probe $nic1"
assert_driver "$nic2" e1000e "the other e1000e (untouched)"

# The whole boot's vfptd journal (no "took it" can precede the hand-made
# bind; a cursor query proved unreliable under load). journald can lag
# behind under TCG: wait (bounded) for the line, then 2 s
# more for any late duplicate, before counting.
for _ in $(seq 20); do
	journal=$(vm_run "journalctl -b -u vfptd --no-pager -o short-monotonic")
	printf '%s\n' "$journal" | grep -q "$nic1.*took it" && break
	sleep 0.5
done
sleep 2
journal=$(vm_run "journalctl -b -u vfptd --no-pager -o short-monotonic")
vm_log "vfptd journal since the hand-made bind:"$'\n'"$journal"
took=$(printf '%s\n' "$journal" | grep -c "$nic1.*took it")
assert_eq "the journal says once that someone took it" 1 "$took"
assert_match "the message names the driver that took it and the rule" \
	"$nic1 \[8086:10d3\]: e1000e took it; claiming it again for vfio-pci \(rule 'one-nic'\)" "$journal"
assert_match "the status line is back to one claimed device" '^1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$(vm_status)"
assert_eq "vfptd is active" active "$(vm_run systemctl is-active vfptd)"

vm_poweroff
vm_pass
