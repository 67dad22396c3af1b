#!/bin/bash
# Hotplug against a loaded host driver: an e1000e listed by a rule (its IDs
# and the address it will get in root port 5) is hotplugged with QMP while
# the e1000e module is already loaded (the two boot NICs use it).  The kernel
# probes a loaded driver inside device_add, before any uevent reaches user
# space, so e1000e may well bind first; what must hold is the END state: the
# device on vfio-pci within a few seconds, and staying there.  Then it is
# unplugged, and plugged in again: claimed again.  A guest-side poller (bash
# builtins, 10 ms steps) records when the device appeared and each driver it
# had; the kernel log says whether e1000e probed it.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init hotplug-again "$1"
vm_disk_new
vm_boot
vm_kill_shim

nic1=$(vm_addr_in_slot 1)
assert_driver "$nic1" e1000e "control: a boot e1000e (module loaded)"
port=$(vm_pci_one port 5)
hot=$(vm_port_child "$port")
vm_log "root port 5 is $port; a device plugged into it will be $hot"
vm_conf_live 50-hot '[hot-e1000e]' 'ids = 8086:10d3' "addresses = $hot"
assert_guest "systemctl reload vfptd (the rule for the absent slot)" systemctl reload vfptd
assert_driver "$nic1" e1000e "the boot e1000e (the rule pins the hotplug slot)"
assert_match "the listed device is absent" '; 1 absent;' "$(vm_status)"

# Poller: states of $hot (absent, present = no driver, or the driver's
# name), each change with the guest's /proc/uptime (10 ms; the clock of the
# kernel log); ends 3 s after the device reached vfio-pci, or after 60 s.
# Beside it, `udevadm monitor -k` records the kernel's uevents for the slot
# with their time stamps (add, bind with DRIVER=...).
poller='a=HOT; out=/run/hp.log; : >$out
( end=$((SECONDS + 60)); last=; onv=
  while [ $SECONDS -lt $end ]; do
    if [ -e /sys/bus/pci/devices/$a/driver ]; then
      if [ -e /sys/bus/pci/drivers/vfio-pci/$a ]; then s=vfio-pci
      elif [ -e /sys/bus/pci/drivers/e1000e/$a ]; then s=e1000e
      else s=other; fi
    elif [ -e /sys/bus/pci/devices/$a ]; then s=present
    else s=absent; fi
    if [ "$s" != "$last" ]; then read -r up _ </proc/uptime; echo "$up $s" >>$out; last=$s; fi
    if [ $s = vfio-pci ]; then
      [ -z "$onv" ] && onv=$SECONDS
      [ $((SECONDS - onv)) -ge 3 ] && break
    else onv=; fi
    sleep 0.01
  done
  read -r up _ </proc/uptime; echo "$up end" >>$out ) </dev/null >/dev/null 2>&1 &
udevadm monitor -k -p -s pci </dev/null >/run/hp-mon.log 2>&1 & echo $! >/run/hp-mon.pid
sleep 0.5'
poller=${poller//HOT/$hot}

figures=()
plug() { # plug ROUND — device_add, follow, assert, measure
	local round=$1 cursor log t_present t_vfio line got klog k_add k_bound e1000e_first tries mon u_add u_binds u_bound
	cursor=$(vm_journal_cursor)
	vm_run "$poller" >/dev/null
	tries=0
	# After a device_del QEMU may need a moment before the port takes a new
	# device; a refused device_add is retried (bounded).
	until vm_qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"e1000e\",\"bus\":\"rp5\",\"id\":\"hot$round\",\"mac\":\"52:54:00:00:05:0$round\"}}" >"$VM_RUN/device_add.$round" 2>&1; do
		tries=$((tries + 1))
		[ "$tries" -ge 40 ] && vm_fail "round $round: device_add refused: $(cat "$VM_RUN/device_add.$round")"
		sleep 0.5
	done
	vm_log "round $round: device_add hot$round into rp5 accepted$([ "$tries" -gt 0 ] && echo " (after $tries retries)")"
	vm_wait_guest 75 "grep -q ' end\$' /run/hp.log" || vm_fail "round $round: the poller did not finish: $(vm_run cat /run/hp.log)"
	log=$(vm_run cat /run/hp.log)
	vm_log "round $round: poller (guest uptime, state):"$'\n'"$log"
	vm_run 'kill $(cat /run/hp-mon.pid)' >/dev/null
	# "KERNEL[time] action devpath (pci)" then KEY=value lines: one line per
	# uevent of $hot, "time action driver".
	mon=$(vm_run cat /run/hp-mon.log | awk -v dev="/$hot" '
		/^KERNEL\[/ { if (t != "") print t, act, drv; t = ""; drv = "-"
			if (index($3, dev) && substr($3, length($3) - length(dev) + 1) == dev) {
				t = $1; gsub(/^KERNEL\[|\]$/, "", t); act = $2 } }
		/^DRIVER=/ { drv = substr($0, 8) }
		END { if (t != "") print t, act, drv }')
	vm_log "round $round: kernel uevents of $hot (udevadm monitor time, action, driver):"$'\n'"$mon"
	u_add=$(printf '%s\n' "$mon" | awk '$2 == "add" { print $1; exit }')
	u_binds=$(printf '%s\n' "$mon" | awk '$2 == "bind" { printf "%s%s", sep, $3; sep = "," }')
	u_bound=$(printf '%s\n' "$mon" | awk '$2 == "bind" && $3 == "vfio-pci" { t = $1 } END { print t }')
	t_present=$(printf '%s\n' "$log" | awk '$2 != "absent" && $2 != "end" { print $1; exit }')
	t_vfio=$(printf '%s\n' "$log" | awk '$2 == "vfio-pci" { print $1; exit }')
	[ -n "$t_present" ] || vm_fail "round $round: $hot never appeared in the guest"
	[ -n "$t_vfio" ] || vm_fail "round $round: $hot never reached vfio-pci; states: $(printf '%s' "$log" | tr '\n' ' ')"
	got=$(vm_ms "$t_present" "$t_vfio")
	# The end state: on vfio-pci and not taken away again (the poller ends
	# only after 3 s on vfio-pci; its last state line must be vfio-pci).
	line=$(printf '%s\n' "$log" | grep -v ' end$' | tail -n 1)
	assert_eq "round $round: $hot ends on vfio-pci and stays there for 3 s" vfio-pci "${line#* }"
	assert_driver "$hot" vfio-pci "round $round: the hotplugged e1000e"
	# The poller's 10 ms steps (a fork each under TCG) make this coarse.
	if [ "$got" -le 5000 ]; then
		vm_ok "round $round: on vfio-pci within 5 s of its appearance (poller: ${got} ms)"
	else
		vm_fail "round $round: on vfio-pci only ${got} ms after it appeared (> 5 s)"
	fi
	klog=$(vm_journal_after "$cursor")
	printf '%s\n' "$klog" >"$VM_RUN/journal-round$round.txt"
	k_add=$(printf '%s\n' "$klog" | grep -m1 -E "pci $hot: \[8086:10d3\]" | sed -E 's/^\[ *([0-9.]+)\].*/\1/')
	k_bound=$(printf '%s\n' "$klog" | grep -m1 -E "vfptd.*$hot.*bound to vfio-pci" | sed -E 's/^\[ *([0-9.]+)\].*/\1/')
	if printf '%s\n' "$klog" | grep -q "e1000e $hot"; then
		e1000e_first="yes, e1000e probed it first"
	else
		e1000e_first="no, e1000e never bound it"
	fi
	if printf '%s\n' "$log" | grep -q ' e1000e$' || [[ $u_binds == *e1000e* ]]; then
		e1000e_first+=" (poller or bind uevents saw it on e1000e)"
	fi
	vm_log "round $round: kernel+vfptd journal:"$'\n'"$(printf '%s\n' "$klog" | grep -E "$hot|vfptd" | head -n 30)"
	figures+=("round $round: kernel 'pci $hot: [8086:10d3]' at ${k_add:-?}; add uevent +$([ -n "$u_add" ] && vm_ms "$k_add" "$u_add" || echo '?') ms; add uevent -> bind uevent ${u_binds:-none} +$([ -n "$u_add" ] && [ -n "$u_bound" ] && vm_ms "$u_add" "$u_bound" || echo '?') ms; poller first saw it on vfio-pci +$(vm_ms "$k_add" "$t_vfio") ms; vfptd's 'bound to vfio-pci' line +$([ -n "$k_bound" ] && vm_ms "$k_add" "$k_bound" || echo '?') ms; e1000e first: $e1000e_first")
	vm_log "${figures[-1]}"
	assert_match "round $round: the last bind uevent is vfio-pci's" '(^|,)vfio-pci$' "$u_binds"
	assert_match "round $round: vfptd logged the claim" "$hot.*bound to vfio-pci \(rule 'hot-e1000e'\)" "$klog"
	assert_guest "round $round: vfio-probe: the group is usable" "vfio-probe $hot"
}

plug 1
vm_qmp '{"execute":"device_del","arguments":{"id":"hot1"}}' >/dev/null || vm_fail "device_del hot1 refused"
vm_wait_guest 60 "! test -e /sys/bus/pci/devices/$hot" || vm_fail "$hot still there 60 s after device_del"
vm_ok "the unplugged device is gone from the guest"
assert_eq "vfptd survives the removal" active "$(vm_run systemctl is-active vfptd)"
vm_wait_guest 10 "systemctl show -p StatusText --value vfptd | grep -q '; 1 absent;'" ||
	vm_fail "the status line does not count the unplugged device as absent: $(vm_status)"
vm_ok "the status line counts it absent again"
plug 2

vm_log "hotplug-to-vfio-pci figures:"
for f in "${figures[@]}"; do vm_log "  $f"; done
assert_driver "$nic1" e1000e "the boot e1000e, at the end"
vm_poweroff
vm_pass
