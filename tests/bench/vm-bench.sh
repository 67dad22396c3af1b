#!/bin/bash
# vm-bench.sh BUILDDIR — the real-kernel benchmarks of tests/bench (run.sh
# --vm calls it): in the tests/vm guest, vfptd against driverctl (Debian's
# package, used as its README/man page says) and against the floor (a static
# C program making the same writes, no daemon).  Three boots of one disk;
# in each only one of them is active:
#
#   boot "vfptd"      vfptd enabled (as installed); rules: the hotplug device
#                     (i82559er, 8086:1209, host driver e100, not loaded at
#                     boot), and at boot the xhci (1b36:000d) and the
#                     rtl8139 behind the pcie-pci-bridge (its group pulls the
#                     e1000 along).  Boot time, 10 hotplugs, 5 runtime claims
#                     of a bound e1000e (vfptctl claim/release).  Then vfptd
#                     is disabled and driverctl overrides are set for the same
#                     devices at their addresses (the hotplug one while it is
#                     plugged in), as driverctl's man page says.
#   boot "driverctl"  driverctl's udev rule + driverctl@.service only.  Boot
#                     time, 10 hotplugs (a reboot before each one that needs
#                     it: see below).  Then the overrides are removed.
#   boot "floor"      no daemon; `bench-floor listen` (netlink uevents ->
#                     override + probe) for the hotplugs, `bench-floor claim`
#                     for the bound e1000e.
#
# Timing comes from the guest's kernel log only (one clock): the kernel
# command line turns on the driver core's debug lines (dyndbg for
# drivers/base/dd.c: "driver: 'X': driver_bound: bound to device 'ADDR'"),
# so every bind of every driver is in the log with its time.
#   hotplug: "pci ADDR: [8086:1209] type 00" (the kernel found it) -> the
#            vfio-pci bound line; "host first" when e100 bound it before.
#   boot:    systemd's "systemd NNN running in system mode" -> the last of
#            the boot devices' vfio-pci bound lines.
#   claim:   a "bench-mark: claim start" line written to /dev/kmsg just
#            before the claim is asked for -> the vfio-pci bound line.
#
# Writes $BENCH_OUT/vm.csv, $BENCH_OUT/vm-table.txt and the raw logs under
# $BENCH_OUT/vm/.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
# shellcheck source=tests/vm/lib.sh disable=SC1091
. "$(dirname "$0")/../vm/lib.sh"

REPS=${BENCH_REPS:-10}
CLAIM_REPS=${BENCH_CLAIM_REPS:-5}
OUT=${BENCH_OUT:?set by run.sh}
RAW=$OUT/vm
mkdir -p "$RAW"
rm -f "$RAW"/*.dmesg "$RAW"/*.txt "$OUT/vm.csv" "$OUT/vm-table.txt"
HOT_IDS=8086:1209

# dd.c's pr_debug/dev_dbg lines carry every bind; a big ring buffer keeps a
# whole boot of them.  Debug lines never reach the (slow) serial console.
VM_APPEND="${VM_APPEND:-} dyndbg=\"file drivers/base/dd.c +p\" log_buf_len=16M"

vm_init bench "$1"
vm_disk_new

floor=$VM_BUILDDIR/tests/bench/bench-floor
[ -x "$floor" ] || vm_fail "no $floor (meson compile -C $VM_BUILDDIR; needs a static libc)"
debugfs -w -R "write $floor /usr/local/bin/bench-floor" "$VM_DISK" >/dev/null 2>&1 ||
	vm_fail "cannot put bench-floor into the image"
debugfs -w -R "sif /usr/local/bin/bench-floor mode 0100755" "$VM_DISK" >/dev/null 2>&1
vm_conf 50-bench '[hot]' "ids = $HOT_IDS" '[boot-xhci]' 'ids = 1b36:000d' '[boot-bridge]' 'ids = 10ec:8139'

csv() { printf '%s,%s,%s,%s,%s\n' "$1" "$2" "$3" "$4" "$5" >>"$OUT/vm.csv"; }

# --- kernel-log parsing (on the host) ---------------------------------------

# ts_of FILE REGEX [first|last] — the [seconds] stamp of the first/last match.
ts_of() {
	local which=${3:-first} l
	if [ "$which" = last ]; then
		l=$(grep -E -- "$2" "$1" | tail -n1)
	else
		l=$(grep -E -- "$2" "$1" | head -n1)
	fi
	[ -n "$l" ] || return 1
	printf '%s\n' "$l" | sed -n 's/^\[ *\([0-9]*\.[0-9]*\)\].*/\1/p'
}

# bound_re DRIVER ADDR — the driver core's line for that bind (6.1 prints
# "driver: 'vfio-pci': driver_bound: bound to device '0000:06:00.0'";
# newer kernels print it through dev_dbg, "vfio-pci 0000:06:00.0: driver: ...").
bound_re() { printf "(driver: '%s': driver_bound: bound to device '%s'|%s %s: driver: '%s': driver_bound: bound to device)" "$1" "$2" "$1" "$2" "$1"; }

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }

# --- steps in the guest -------------------------------------------------------

# hotplug_once MODE REP — device_add on rp5, wait (10 s) for vfio-pci, take
# the kernel log of it, device_del, wait for it to go.  Appends a line
# "MODE REP ADDR ms host_first(yes/no) result" to $RAW/hotplug.txt.
HOT_ADDR=
hotplug_once() {
	local mode=$1 rep=$2 port addr d f t0 t1 host res=ok
	port=$(vm_pci_one port 5)
	vm_run dmesg -C >/dev/null
	vm_qmp "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"i82559er\",\"bus\":\"rp5\",\"id\":\"bench$rep\"}}" >/dev/null ||
		vm_fail "device_add i82559er refused"
	addr=$(vm_run "for i in \$(seq 200); do for d in /sys/bus/pci/devices/$port/????:??:??.?; do [ -e \"\$d\" ] && { echo \${d##*/}; exit 0; }; done; sleep 0.05; done; exit 1") ||
		vm_fail "the hotplugged device did not appear under $port"
	HOT_ADDR=$addr
	d=$(vm_run "for i in \$(seq 200); do d=\$(basename \"\$(readlink /sys/bus/pci/devices/$addr/driver 2>/dev/null)\" 2>/dev/null); [ \"\$d\" = vfio-pci ] && { echo \$d; exit 0; }; sleep 0.05; done; echo \${d:-none}; exit 1")
	[ "$d" = vfio-pci ] || res="not-bound(${d:-none})"
	f=$RAW/hotplug-$mode-$rep.dmesg
	vm_run dmesg >"$f"
	vm_qmp "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"bench$rep\"}}" >/dev/null
	vm_run "for i in \$(seq 300); do test -e /sys/bus/pci/devices/$addr || exit 0; sleep 0.1; done; exit 1" >/dev/null ||
		vm_fail "$addr did not go away after device_del"
	sleep 1
	t0=$(ts_of "$f" "pci $addr: \[${HOT_IDS}\] type") || t0=
	t1=$(ts_of "$f" "$(bound_re vfio-pci "$addr")") || t1=
	host=no
	grep -qE -- "$(bound_re e100 "$addr")" "$f" && host=yes
	if [ -n "$t0" ] && [ -n "$t1" ]; then
		printf '%s %s %s %s %s %s\n' "$mode" "$rep" "$addr" "$(ms "$t0" "$t1")" "$host" "$res" >>"$RAW/hotplug.txt"
	else
		printf '%s %s %s %s %s %s\n' "$mode" "$rep" "$addr" - "$host" "$res(no-timestamps)" >>"$RAW/hotplug.txt"
	fi
	vm_log "hotplug $mode #$rep: $addr $(tail -n1 "$RAW/hotplug.txt" | cut -d' ' -f4) ms host-first=$host $res"
}

# boot_measure MODE ADDR... — from the boot's kernel log: systemd's start to
# the last of ADDR... on vfio-pci; whether a host driver had them first.
boot_measure() {
	local mode=$1 f t0 t1 last=0 a missing='' host='' tb hd
	shift
	f=$RAW/boot-$mode.dmesg
	vm_run "dmesg | grep -E 'driver_bound|running in system mode|Run /init|bench-mark'" >"$f"
	vm_run systemd-analyze >"$RAW/boot-$mode.analyze.txt" 2>&1
	vm_run journalctl -b --no-pager -o short-monotonic >"$RAW/boot-$mode.journal.txt" 2>&1
	t0=$(ts_of "$f" 'systemd\[1\]: systemd [0-9]+.* running in system mode') || t0=$(ts_of "$f" 'Run /init as init process')
	for a in "$@"; do
		tb=$(ts_of "$f" "$(bound_re vfio-pci "$a")" last) || { missing+="${missing:+;}$a"; continue; }
		awk -v a="$tb" -v b="$last" 'BEGIN { exit !(a > b) }' && last=$tb
		hd=$(grep -E "(bound to device '$a'|$a: driver: '[^']+': driver_bound)" "$f" | grep -v "'vfio-pci'" |
			grep -oE "driver: '[^']+'" | head -n1 | cut -d"'" -f2)
		[ -n "$hd" ] && host+="${host:+;}$a($hd)"
	done
	t1=$last
	printf '%s %s %s %s %s\n' "$mode" "$(ms "$t0" "$t1")" "${host:-none}" "${missing:-none}" "$(head -n1 "$RAW/boot-$mode.analyze.txt" | tr ' ' '_')" >>"$RAW/boot.txt"
	vm_log "boot $mode: userspace start $t0 -> all bound $t1 = $(ms "$t0" "$t1") ms; host driver first:${host:- none}; missing:${missing:- none}"
}

# claim_vfptd ADDR — vfptctl claim / release, timed in the kernel log.
claim_vfptd() {
	local addr=$1 i f t0 t1
	for i in $(seq "$CLAIM_REPS"); do
		vm_run dmesg -C >/dev/null
		vm_run "echo 'bench-mark: claim start $addr' >/dev/kmsg; vfptctl claim $addr" >"$RAW/claim-vfptd-$i.out" 2>&1 ||
			vm_log "vfptctl claim $addr: $(cat "$RAW/claim-vfptd-$i.out")"
		vm_run "for i in \$(seq 100); do [ \"\$(vfpt-test-pci driver $addr)\" = vfio-pci ] && break; sleep 0.05; done" >/dev/null
		f=$RAW/claim-vfptd-$i.dmesg
		vm_run dmesg >"$f"
		vm_run "vfptctl release $addr" >>"$RAW/claim-vfptd-$i.out" 2>&1
		vm_run "for i in \$(seq 100); do [ \"\$(vfpt-test-pci driver $addr)\" = e1000e ] && break; sleep 0.05; done" >/dev/null
		t0=$(ts_of "$f" "bench-mark: claim start $addr") || t0=
		t1=$(ts_of "$f" "$(bound_re vfio-pci "$addr")") || t1=
		[ -n "$t0" ] && [ -n "$t1" ] && printf 'vfptd %s %s %s\n' "$i" "$addr" "$(ms "$t0" "$t1")" >>"$RAW/claim.txt"
		sleep 1
	done
}

claim_floor() {
	local addr=$1 i f t0 t1 out
	vm_run dmesg -C >/dev/null
	out=$(vm_run "bench-floor claim $addr vfio-pci $CLAIM_REPS") || vm_log "bench-floor claim: $out"
	printf '%s\n' "$out" >"$RAW/claim-floor.out"
	f=$RAW/claim-floor.dmesg
	vm_run dmesg >"$f"
	# each "claim start" mark to the next vfio-pci bound line
	awk -v re="$(bound_re vfio-pci "$addr")" -v addr="$addr" '
		function ts(l) { sub(/^\[ */, "", l); sub(/\].*/, "", l); return l + 0 }
		index($0, "bench-mark: claim start " addr) { t0 = ts($0); next }
		t0 && $0 ~ re { i++; printf "floor %d %s %.1f\n", i, addr, (ts($0) - t0) * 1000; t0 = 0 }' "$f" >>"$RAW/claim.txt"
	printf '%s\n' "$out" | sed -n 's/.* rep=\([0-9]*\) claim_us=\([0-9]*\) release_us=\([0-9]*\).*/floor-internal \1 '"$addr"' \2/p' |
		awk '{ printf "%s %s %s %.1f\n", $1, $2 + 1, $3, $4 / 1000 }' >>"$RAW/claim.txt"
}

# --- boot 1: vfptd --------------------------------------------------------------

: >"$RAW/hotplug.txt"
: >"$RAW/boot.txt"
: >"$RAW/claim.txt"
vm_boot
xhci=$(vm_find_one 1b36:000d)
vm_bridge_endpoints 4
boot_devs="$xhci ${VM_BEHIND[*]}"
nic2=$(vm_addr_in_slot 2)
vm_log "boot devices: $boot_devs; hotplug on rp5; claim test on $nic2 (e1000e)"
# shellcheck disable=SC2086 # a list of addresses
boot_measure vfptd $boot_devs
vm_run journalctl -b -u vfptd --no-pager -o short-monotonic >"$RAW/vfptd-boot.journal.txt"
for i in $(seq "$REPS"); do hotplug_once vfptd "$i"; done
vm_run journalctl -b -u vfptd --no-pager -o short-monotonic >"$RAW/vfptd.journal.txt"
claim_vfptd "$nic2"

# driverctl, set up as its man page says: an override per address, saved.
vm_run 'systemctl disable --now vfptd.service' >/dev/null 2>&1
for a in $boot_devs; do
	vm_run "driverctl set-override $a vfio-pci" >>"$RAW/driverctl-setup.txt" 2>&1 ||
		vm_fail "driverctl set-override $a vfio-pci failed: $(tail -n3 "$RAW/driverctl-setup.txt")"
done
# The hotplug address exists only while the device is plugged in.
vm_qmp '{"execute":"device_add","arguments":{"driver":"i82559er","bus":"rp5","id":"setup"}}' >/dev/null
port=$(vm_pci_one port 5)
vm_run "for i in \$(seq 200); do ls /sys/bus/pci/devices/$port/ | grep -q '^0000:' && break; sleep 0.05; done" >/dev/null
hot=$(vm_pci_one under "$port")
vm_run "driverctl set-override $hot vfio-pci" >>"$RAW/driverctl-setup.txt" 2>&1 ||
	vm_fail "driverctl set-override $hot failed: $(tail -n3 "$RAW/driverctl-setup.txt")"
vm_qmp '{"execute":"device_del","arguments":{"id":"setup"}}' >/dev/null
vm_run "for i in \$(seq 300); do test -e /sys/bus/pci/devices/$hot || exit 0; sleep 0.1; done; exit 1" >/dev/null
vm_run 'driverctl list-overrides; ls -l /etc/driverctl.d' >>"$RAW/driverctl-setup.txt" 2>&1
vm_poweroff

# --- boot 2: driverctl --------------------------------------------------------------

vm_boot
assert_eq "vfptd is not running with driverctl" inactive "$(vm_run systemctl is-active vfptd)"
# shellcheck disable=SC2086 # a list of addresses
boot_measure driverctl $boot_devs
reboot_each=0
for i in $(seq "$REPS"); do
	[ "$reboot_each" = 1 ] && vm_reboot
	hotplug_once driverctl "$i"
	if [ "$(tail -n1 "$RAW/hotplug.txt" | cut -d' ' -f6)" != ok ] && [ "$reboot_each" = 0 ]; then
		# driverctl@pci-ADDR.service is Type=oneshot, RemainAfterExit=yes,
		# RefuseManualStop=yes: after the first add it stays "active" and a
		# later add of the same address in the same boot starts nothing.
		# Keep the evidence, and give each further repetition a fresh boot.
		vm_run "systemctl status --no-pager 'driverctl@pci-$HOT_ADDR.service'" >"$RAW/driverctl-unit-after-$i.txt" 2>&1
		cp "$RAW/hotplug-driverctl-$i.dmesg" "$RAW/driverctl-second-add-$i.dmesg"
		vm_log "driverctl: repetition $i not bound; its unit: $(head -n3 "$RAW/driverctl-unit-after-$i.txt" | tr '\n' ' ')"
		tail -n1 "$RAW/hotplug.txt" >>"$RAW/driverctl-notes.txt"
		sed -i '$d' "$RAW/hotplug.txt"
		reboot_each=1
		vm_reboot
		hotplug_once driverctl "$i"
	fi
done
vm_run 'rm -f /etc/driverctl.d/*' >/dev/null
vm_poweroff

# --- boot 3: the floor ------------------------------------------------------------

vm_boot
assert_eq "vfptd is not running for the floor" inactive "$(vm_run systemctl is-active vfptd)"
vm_run 'modprobe vfio-pci' >/dev/null
vm_run "systemd-run --unit=bench-floor-listen /usr/local/bin/bench-floor listen $HOT_IDS vfio-pci" >/dev/null ||
	vm_fail "cannot start bench-floor listen"
sleep 1
for i in $(seq "$REPS"); do hotplug_once floor "$i"; done
vm_run 'journalctl -b -u bench-floor-listen --no-pager -o short-monotonic' >"$RAW/floor-listen.journal.txt"
claim_floor "$nic2"
vm_poweroff

# --- the table ----------------------------------------------------------------------

stats() { # values on stdin -> "n median min max"
	sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "0 - - -"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d %.1f %.1f %.1f\n", NR, m, v[1], v[NR] }'
}
{
	echo
	echo "== 1. Hotplug to bound, real kernel (QEMU TCG guest, Debian $(cut -d' ' -f4 "$(vm_base)/key")): i82559er (e100, not loaded at boot) on a free pcie-root-port"
	echo "   kernel log: 'pci ADDR: [8086:1209]' -> driver core 'vfio-pci ... bound to device ADDR'"
	printf '   %-10s %4s %10s %10s %10s %12s %s\n' tool n median_ms min_ms max_ms host_first notes
} >>"$OUT/vm-table.txt"
for mode in vfptd driverctl floor; do
	read -r n med min max < <(awk -v m="$mode" '$1 == m && $4 != "-" { print $4 }' "$RAW/hotplug.txt" | stats)
	hf=$(awk -v m="$mode" '$1 == m && $5 == "yes"' "$RAW/hotplug.txt" | wc -l)
	tot=$(awk -v m="$mode" '$1 == m' "$RAW/hotplug.txt" | wc -l)
	notes=$(awk -v m="$mode" '$1 == m && $6 != "ok" { printf "#%s:%s ", $2, $6 }' "$RAW/hotplug.txt")
	[ "$mode" = driverctl ] && [ -s "$RAW/driverctl-notes.txt" ] &&
		notes+="second add of the address in one boot not bound (driverctl@ unit stays active): fresh boot per repetition"
	printf '   %-10s %4s %10s %10s %10s %12s %s\n' "$mode" "$n" "$med" "$min" "$max" "$hf/$tot" "${notes:-}" >>"$OUT/vm-table.txt"
	csv hotplug "$mode" median "$med" ms
	csv hotplug "$mode" min "$min" ms
	csv hotplug "$mode" max "$max" ms
	csv hotplug "$mode" reps "$n" count
	csv hotplug "$mode" host_driver_first "$hf" count
	eval "hot_med_$mode=$med"
done
# shellcheck disable=SC2154 # set by the eval above
ratio=$(awk -v a="$hot_med_vfptd" -v b="$hot_med_driverctl" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')
# shellcheck disable=SC2154
ratio_floor=$(awk -v a="$hot_med_vfptd" -v b="$hot_med_floor" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
echo "   vfptd / driverctl median: $ratio (target <= 0.1);  vfptd / floor median: $ratio_floor (target < 1.10)" >>"$OUT/vm-table.txt"
csv hotplug vfptd/driverctl ratio "$ratio" x
csv hotplug vfptd/floor ratio "$ratio_floor" x

{
	echo
	echo "== 2. Boot: systemd's start ('systemd NNN running in system mode') -> all of $boot_devs on vfio-pci (kernel log)"
	printf '   %-10s %10s  %-40s %s\n' tool ms host_driver_first missing
} >>"$OUT/vm-table.txt"
while read -r mode t host missing analyze; do
	printf '   %-10s %10s  %-40s %s   (%s)\n' "$mode" "$t" "$host" "$missing" "$(echo "$analyze" | tr '_' ' ')" >>"$OUT/vm-table.txt"
	csv boot "$mode" userspace_to_all_bound "$t" ms
	csv boot "$mode" host_driver_first "$host" devices
done <"$RAW/boot.txt"

{
	echo
	echo "== 3. The floor: claim of a bound e1000e ($nic2): override, unbind e1000e, drivers_probe, $CLAIM_REPS times"
	echo "   'bench-mark: claim start' written to /dev/kmsg -> 'vfio-pci bound to device' (kernel log); floor-internal: the loop's own clock"
	printf '   %-16s %4s %10s %10s %10s\n' how n median_ms min_ms max_ms
} >>"$OUT/vm-table.txt"
for how in vfptd floor floor-internal; do
	read -r n med min max < <(awk -v m="$how" '$1 == m { print $4 }' "$RAW/claim.txt" | stats)
	printf '   %-16s %4s %10s %10s %10s\n' "$how" "$n" "$med" "$min" "$max" >>"$OUT/vm-table.txt"
	csv claim "$how" median "$med" ms
	csv claim "$how" min "$min" ms
	csv claim "$how" max "$max" ms
	eval "claim_med_${how//-/_}=$med"
done
# shellcheck disable=SC2154
echo "   vfptctl claim (vfptd) / floor: $(awk -v a="$claim_med_vfptd" -v b="$claim_med_floor" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }') (vfptd's includes vfptctl, D-Bus, the rule file and a full reconcile);  hotplug vfptd / floor: $ratio_floor" >>"$OUT/vm-table.txt"
csv claim vfptd/floor ratio "$(awk -v a="$claim_med_vfptd" -v b="$claim_med_floor" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" x
echo "   raw: $RAW (per-repetition kernel logs, journals, hotplug.txt, boot.txt, claim.txt)" >>"$OUT/vm-table.txt"
vm_pass
