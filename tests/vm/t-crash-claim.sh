#!/bin/bash
# Crash convergence on the real kernel: vfptd is killed with SIGKILL in the
# middle of claiming a two-endpoint IOMMU group (the e1000 and the rtl8139
# behind the pcie-pci-bridge), at every point of the claim in turn: before
# its 1st sysfs write, its 2nd, ... until a claim runs to the end without
# being killed.  The kill comes from tests/vm/fault-preload.c
# (VFPT_FAULT_KILL_AT=N: SIGKILL just before the Nth write to /sys).
# After each kill systemd restarts vfptd (Restart=on-failure; RestartSec
# raised to 4 s so that the test sees the state the kill left), and the
# restarted daemon must converge: both endpoints on vfio-pci, the records
# under /run/vfptd/devices naming their original drivers (e1000, 8139cp),
# the group usable; then removing the rule must give both back to those
# drivers, overrides cleared, which only works when the records are right.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init crash-claim "$1"
vm_disk_new
vm_boot
vm_kill_shim

vm_bridge_endpoints 4
a=${VM_BEHIND[0]}
b=${VM_BEHIND[1]}
da=$(vm_driver "$a")
db=$(vm_driver "$b")
vm_log "the group: $a ($da) and $b ($db) behind $VM_BRIDGE"
[ -n "$da" ] && [ -n "$db" ] || vm_fail "both endpoints should start on their host drivers ($a: '$da', $b: '$db')"

marker=/run/vfptd/fault-killed
state() { # "A=driver/override B=driver/override"
	vm_run "for x in $a $b; do printf '%s=%s/%s ' \$x \"\$(vfpt-test-pci driver \$x)\" \"\$(vfpt-test-pci override \$x)\"; done"
}
records() { vm_run "cd /run/vfptd/devices 2>/dev/null && for f in $a $b; do [ -f \$f ] && echo \"\$f=\$(cat \$f)\"; done; true"; }

kills=0
mid=0
n=1
while :; do
	[ "$n" -le 12 ] || vm_fail "still killed at the ${n}th sysfs write: a two-device claim writes fewer"
	# vfptd started afresh with the preload armed for the nth write; no rule yet.
	vm_run "mkdir -p /run/systemd/system/vfptd.service.d
printf '%s\n' '[Service]' 'Environment=LD_PRELOAD=/usr/local/lib/vfpt-fault-preload.so' \
	'Environment=VFPT_FAULT_KILL_AT=$n' 'Environment=VFPT_FAULT_MARKER=$marker' 'RestartSec=4s' \
	>/run/systemd/system/vfptd.service.d/fault.conf
rm -f $marker /etc/vfpt.d/60-bridge.conf
systemctl daemon-reload && systemctl reset-failed vfptd; systemctl restart vfptd" >/dev/null ||
		vm_fail "cannot restart vfptd with the fault preload"
	pid1=$(vm_run systemctl show -p MainPID --value vfptd)

	vm_conf_live 60-bridge '[bridge]' "addresses = $a"
	vm_run systemctl reload vfptd >/dev/null
	# Killed (the marker) or done (both on vfio-pci), whichever comes first.
	vm_wait_guest 30 "[ -e $marker ] || { [ \"\$(vfpt-test-pci driver $a)\" = vfio-pci ] && [ \"\$(vfpt-test-pci driver $b)\" = vfio-pci ]; }" ||
		vm_fail "write $n: neither killed nor claimed within 30 s: $(state)"
	if vm_run "[ -e $marker ]" >/dev/null; then
		at=$(state)
		kills=$((kills + 1))
		case "$at" in
		"$a=$da/(null) $b=$db/(null) ") ;;
		*) mid=$((mid + 1)) ;;
		esac
		vm_log "killed before sysfs write $n ($(vm_run cat $marker | cut -d' ' -f2)): $at"
	else
		vm_log "write $n: the claim ran to the end without reaching it; $((n - 1)) kill points covered"
		break
	fi

	# systemd restarts it; the new daemon must finish the claim.
	vm_wait_guest 30 "pid=\$(systemctl show -p MainPID --value vfptd); [ \"\$pid\" != 0 ] && [ \"\$pid\" != $pid1 ] && [ \"\$(vfpt-test-pci driver $a)\" = vfio-pci ] && [ \"\$(vfpt-test-pci driver $b)\" = vfio-pci ]" ||
		vm_fail "after the kill before write $n, the restarted vfptd did not converge: $(state); vfptd $(vm_run systemctl is-active vfptd)"
	vm_ok "write $n: restarted and converged: $(state)"
	assert_eq "write $n: the records name the original drivers" "$a=$da"$'\n'"$b=$db" "$(records)"

	# Release: both back to the drivers the records name.
	vm_run rm /etc/vfpt.d/60-bridge.conf >/dev/null
	vm_run systemctl reload vfptd >/dev/null
	vm_wait_guest 30 "[ \"\$(vfpt-test-pci driver $a)\" = $da ] && [ \"\$(vfpt-test-pci driver $b)\" = $db ]" ||
		vm_fail "write $n: the release after the crash did not give both back: $(state)"
	assert_eq "write $n: released to $da and $db, overrides cleared" "$a=$da/(null) $b=$db/(null) " "$(state)"
	n=$((n + 1))
done

assert_guest "vfio-probe: the group claimed by the unkilled run is usable" "vfio-probe $a"
assert_eq "the final records" "$a=$da"$'\n'"$b=$db" "$(records)"
[ "$kills" -ge 3 ] || vm_fail "only $kills kill points: the claim of two devices should have more sysfs writes"
[ "$mid" -ge 1 ] || vm_fail "no kill left the group visibly half-claimed; the test did not test what it says"
vm_ok "$kills kill points, $mid of them left the group half-claimed; every one converged and released"
vm_log "crash-claim: $kills kill points, $mid visibly mid-claim"

vm_poweroff
vm_pass
