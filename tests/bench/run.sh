#!/bin/bash
# run.sh BUILDDIR [--host|--vm|--all] — vfpt's benchmarks (tests/bench/README.md).
# Prints tables and writes BUILDDIR/bench/results.csv (one figure a row:
# section,case,metric,value,unit).  Figures only: nothing here fails because
# something was slow.
#
#   --host  scale (library on a fake sysfs, in-process fake kernel) and idle
#           (vfptd on a fake tree with the LD_PRELOAD fake kernel); no root
#   --vm    hotplug, boot and floor in the QEMU guest (root; tests/vm)
#   --all   both (default)
#   --scale, --idle: one part of --host
#
# Knobs: BENCH_SIZES ("16 64 256 1024"), BENCH_RUNS (3 timed runs a size;
# the median is kept), BENCH_IDLE_SECONDS (60), BENCH_IDLE_DEVICES (256),
# BENCH_REPS (hotplug repetitions, 10). TMPDIR: the fake trees go there;
# /dev/shm is used when TMPDIR is unset (sysfs and /run are in memory too;
# on a disk file system the fake tree's fsyncs and metadata writes dominate).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
B=$(cd "${1:?usage: run.sh BUILDDIR [--host|--vm|--all]}" && pwd) || exit 2
mode=${2:---all}
OUT=$B/bench
mkdir -p "$OUT"
CSV=$OUT/results.csv
SIZES=${BENCH_SIZES:-16 64 256 1024}
RUNS=${BENCH_RUNS:-3}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-60}
IDLE_DEVICES=${BENCH_IDLE_DEVICES:-256}
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
fi

log() { printf '# %s\n' "$*" >&2; }
csv() { # section case metric value unit
	printf '%s,%s,%s,%s,%s\n' "$1" "$2" "$3" "$4" "$5" >>"$CSV.tmp.$$"
}
field() { # KEY LINE — value of key=value in LINE
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1
}

# --- 4. scale ------------------------------------------------------------------

scale() {
	local bin=$B/tests/bench/bench-scale n i line lines best tr counts
	[ -x "$bin" ] || { log "no $bin (meson compile -C $B)"; return 1; }
	{
		echo
		echo "== 4. Scale: coldplug of N listed devices on a fake sysfs (library + in-process fake kernel, TMPDIR=$TMPDIR)"
		echo "   per device: library wall time (snapshot+records+guards+plan+execute, fake kernel's time taken out),"
		echo "   system calls of the library (fake kernel's own left out), heap held by snapshot+plan; median of $RUNS runs"
		printf '%6s %9s %9s %9s %9s %9s %9s %10s %9s %8s %9s %10s %9s\n' \
			N total_ms us/dev snap_us/d guard_us/d plan_us/d exec_us/d fakek_us/w 2nd_ms sysc/dev sysc_2nd/d heap_B/dev maxrss_KiB
	} >>"$OUT/table.txt"
	for n in $SIZES; do
		lines=
		for i in $(seq "$RUNS"); do
			line=$("$bin" "$n" 2>>"$OUT/scale.log") || { log "bench-scale $n failed (see $OUT/scale.log)"; return 1; }
			lines+="$(field total_lib_us "$line") $line"$'\n'
		done
		# the median run by library time
		best=$(printf '%s' "$lines" | sort -n | sed -n "$(((RUNS + 1) / 2))p" | cut -d' ' -f2-)
		echo "$best" >>"$OUT/scale.raw"
		counts=" - -"
		if command -v strace >/dev/null; then
			tr=$OUT/scale-$n.strace
			strace -f -o "$tr" "$bin" "$n" --markers >/dev/null 2>>"$OUT/scale.log"
			# syscalls between the phase markers, not counting the fake kernel's
			counts=$(awk '
				/access\("@bench:/ {
					m = $0; sub(/.*@bench:/, "", m); sub(/".*/, "", m)
					if (m == "hook<") inhook = 1; else if (m == "hook>") inhook = 0
					else { if (m == "snapshot") pass++; phase = (m == "end") ? "" : m }
					next
				}
				/^[0-9]+ +[a-z_0-9]+\(/ { if (phase != "" && !inhook) c[pass]++ }
				END { printf " %d %d", c[1], c[2] }' "$tr")
			rm -f "$tr"
		fi
		# shellcheck disable=SC2086
		set -- $counts
		awk -v n="$n" -v c1="$1" -v c2="$2" -v line="$best" 'BEGIN {
			split(line, kv, " "); for (i in kv) { split(kv[i], p, "="); v[p[1]] = p[2] }
			printf "%6d %9.1f %9.1f %9.1f %9.2f %9.2f %9.1f %10.1f %9.1f %8s %9s %10.0f %9d\n",
				n, v["total_lib_us"] / 1000, v["total_lib_us"] / n, v["snapshot_us"] / n, v["guards_us"] / n,
				v["plan_us"] / n, v["exec_lib_us"] / n, v["hook_us"] / v["hook_calls"], v["pass2_us"] / 1000,
				(c1 == "-" ? "-" : sprintf("%.1f", c1 / n)), (c2 == "-" ? "-" : sprintf("%.1f", c2 / n)),
				v["heap_kib"] * 1024 / n, v["maxrss_kib"] }' >>"$OUT/table.txt"
		for k in total_lib_us snapshot_us records_us guards_us plan_us exec_lib_us hook_us pass2_us heap_kib maxrss_kib; do
			csv scale "n=$n" "$k" "$(field "$k" "$best")" "${k##*_}"
		done
		csv scale "n=$n" us_per_device "$(awk -v a="$(field total_lib_us "$best")" -v n="$n" 'BEGIN{printf "%.1f", a/n}')" us
		csv scale "n=$n" plan_us_per_device "$(awk -v a="$(field plan_us "$best")" -v n="$n" 'BEGIN{printf "%.2f", a/n}')" us
		[ "$1" != - ] && csv scale "n=$n" syscalls_per_device "$(awk -v a="$1" -v n="$n" 'BEGIN{printf "%.1f", a/n}')" count
		[ "$2" != - ] && csv scale "n=$n" syscalls_per_device_2nd_pass "$(awk -v a="$2" -v n="$n" 'BEGIN{printf "%.1f", a/n}')" count
	done
	# growth: per-device cost at the largest size over the smallest
	awk 'NR==1{first=$0} {last=$0} END {
		split(first, a, " "); split(last, b, " ")
		for (i in a) { split(a[i], p, "="); x[p[1]] = p[2] }
		for (i in b) { split(b[i], p, "="); y[p[1]] = p[2] }
		fx = x["n"]; fy = y["n"]
		printf "   growth %d -> %d devices (per-device cost, x%.0f devices): total x%.2f, snapshot x%.2f, plan x%.2f, execute x%.2f, second pass x%.2f\n",
			fx, fy, fy / fx, (y["total_lib_us"] / fy) / (x["total_lib_us"] / fx),
			(y["snapshot_us"] / fy) / (x["snapshot_us"] / fx), (y["plan_us"] / fy) / (x["plan_us"] / fx),
			(y["exec_lib_us"] / fy) / (x["exec_lib_us"] / fx), (y["pass2_us"] / fy) / (x["pass2_us"] / fx) }' \
		"$OUT/scale.raw" >>"$OUT/table.txt"
}

# --- 5. idle -------------------------------------------------------------------

# vfptd_fake NDEV — start vfptd (non-dry-run) on a fresh fake tree of NDEV
# listed devices with the LD_PRELOAD fake kernel; sets VPID, VDIR; waits
# for READY=1.
vfptd_fake() {
	local ndev=$1 i t0
	VDIR=$(mktemp -d "$TMPDIR/vfpt-bench-idle-XXXXXX")
	mkdir -p "$VDIR/conf" "$VDIR/records" "$VDIR/vfio" "$VDIR/runtime"
	{
		echo "driver vfio-pci"
		for ((i = 0; i < ndev; i++)); do
			printf 'device 0000:%02x:%02x.%d vendor=8086 device=10d3 class=020000 group=%d driver=e1000e\n' \
				$((1 + i / 256)) $(((i / 8) % 32)) $((i % 8)) $((i + 1))
		done
		echo "device 0000:00:1f.0 vendor=8086 device=2918 class=060100 group=0 driver=lpc_ich"
	} >"$VDIR/spec"
	"$B/tests/common/mkfakesysfs" "$VDIR/sys" "$VDIR/spec" >/dev/null || return 1
	printf '[nics]\nids = 8086:10d3\n' >"$VDIR/conf/50-nics.conf"
	rm -f "$VDIR/notify"
	python3 - "$VDIR/notify" >"$VDIR/notify.log" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    m = s.recv(4096).decode(errors="replace")
    print("%.6f %s" % (time.monotonic(), m.replace("\n", " | ")), flush=True)
EOF
	NPID=$!
	for i in $(seq 50); do [ -S "$VDIR/notify" ] && break; sleep 0.1; done
	t0=$(date +%s.%N)
	(
		cd "$VDIR" || exit 1
		unset WATCHDOG_USEC WATCHDOG_PID DBUS_SYSTEM_BUS_ADDRESS JOURNAL_STREAM
		export NOTIFY_SOCKET=$VDIR/notify FAKE_SYSFS_ROOT=$VDIR/sys
		export LD_PRELOAD=$B/tests/common/fake-kernel-preload.so
		exec "$B/daemon/vfptd" --sysfs-root "$VDIR/sys" --config-dir "$VDIR/conf" \
			--records-dir "$VDIR/records" --vfio-dir "$VDIR/vfio" --runtime-dir "$VDIR/runtime" \
			--proc-root /proc --no-bus
	) >"$VDIR/vfptd.log" 2>&1 &
	VPID=$!
	for i in $(seq 1200); do
		grep -q 'READY=1' "$VDIR/notify.log" 2>/dev/null && break
		kill -0 "$VPID" 2>/dev/null || { log "vfptd exited: $(tail -n 5 "$VDIR/vfptd.log")"; return 1; }
		sleep 0.25
	done
	grep -q 'READY=1' "$VDIR/notify.log" || { log "vfptd never sent READY=1"; return 1; }
	VREADY_S=$(awk -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN{ printf "%.1f", t1 - t0 }')
	sleep 2 # let the start-up settle (the worker's last result, the bus attempt)
}

vfptd_fake_stop() {
	[ -n "${VPID:-}" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	[ -n "${NPID:-}" ] && kill "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
	VPID="" NPID=""
	[ -n "${VDIR:-}" ] && rm -rf -- "$VDIR"
}

status_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
status_n() { sed -n "s/^$2:[[:space:]]*\([0-9]*\)$/\1/p" "/proc/$1/status"; }
ctx_total() { # voluntary + involuntary, all threads
	local t s=0 v
	for t in /proc/"$1"/task/*; do
		v=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s += $2} END {print s}' "$t/status")
		s=$((s + v))
	done
	echo "$s"
}

idle() {
	local ndev rss hwm anon file pss vol0 vol1 tr claimed threads wake strace_line
	command -v python3 >/dev/null || { log "idle: needs python3 (the notify socket)"; return 1; }
	{
		echo
		echo "== 5. Idle: vfptd (non-dry-run, LD_PRELOAD fake kernel) on a fake tree, after READY=1; ${IDLE_SECONDS} s of idleness"
		printf '%8s %8s %9s %9s %9s %9s %7s %8s %11s %12s %s\n' devices claimed VmRSS_KiB VmHWM_KiB RssAnon RssFile Pss threads "ctxsw/${IDLE_SECONDS}s" "syscalls/${IDLE_SECONDS}s" "(strace: syscall:count)"
	} >>"$OUT/table.txt"
	for ndev in 0 "$IDLE_DEVICES"; do
		vfptd_fake "$ndev" || { vfptd_fake_stop; return 1; }
		claimed=$(find "$VDIR/records" -type f | wc -l)
		rss=$(status_kib "$VPID" VmRSS)
		hwm=$(status_kib "$VPID" VmHWM)
		anon=$(status_kib "$VPID" RssAnon)
		file=$(status_kib "$VPID" RssFile)
		threads=$(status_n "$VPID" Threads)
		pss=$(awk '/^Pss:/ {print $2}' "/proc/$VPID/smaps_rollup")
		cp "/proc/$VPID/smaps_rollup" "$OUT/idle-$ndev.smaps_rollup" 2>/dev/null
		# resident KiB by mapped file ([heap], [stack], anonymous ones too)
		awk '/^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6) ? $6 : "[anon]"; sub(/.*\//, "", name) }
			/^Rss:/ { rss[name] += $2 } /^Pss:/ { pss[name] += $2 } /^Private_Dirty:/ { pd[name] += $2 }
			END { for (n in rss) if (rss[n] > 0) printf "%6d %6d %13d %s\n", rss[n], pss[n], pd[n], n }' "/proc/$VPID/smaps" |
			sort -k1,1rn | sed '1i\   Rss    Pss Private_Dirty mapping' >"$OUT/idle-$ndev.by-mapping"
		csv idle "devices=$ndev" pss "$(awk '/^Pss:/ {print $2}' "/proc/$VPID/smaps_rollup")" KiB
		csv idle "devices=$ndev" private_dirty "$(awk '/^Private_Dirty:/ {print $2}' "/proc/$VPID/smaps_rollup")" KiB
		csv idle "devices=$ndev" startup_to_ready "$VREADY_S" s
		vol0=$(ctx_total "$VPID")
		sleep "$IDLE_SECONDS"
		vol1=$(ctx_total "$VPID")
		wake=$((vol1 - vol0))
		strace_line="-"
		if command -v strace >/dev/null; then
			tr=$OUT/idle-$ndev.strace
			timeout -s INT "$IDLE_SECONDS" strace -f -tt -p "$VPID" -o "$tr" 2>/dev/null
			# the attach itself interrupts epoll_wait/futex once per thread
			strace_line=$(grep -cvE 'resumed>|\+\+\+|---|<unfinished|strace: ' "$tr" 2>/dev/null || true)
			strace_line="$strace_line $(grep -oE '^[0-9]+ +[0-9:.]+ +[a-z_0-9]+' "$tr" | awk '{print $3}' | sort | uniq -c | awk '{printf "%s%s:%s", sep, $2, $1; sep=","}')"
		fi
		printf '%8d %8d %9d %9d %9d %9d %7d %8d %11d %12s\n' "$ndev" "$claimed" "$rss" "$hwm" "$anon" "$file" "$pss" "$threads" "$wake" "$strace_line" >>"$OUT/table.txt"
		csv idle "devices=$ndev" claimed "$claimed" count
		csv idle "devices=$ndev" vmrss "$rss" KiB
		csv idle "devices=$ndev" vmhwm "$hwm" KiB
		csv idle "devices=$ndev" rss_anon "$anon" KiB
		csv idle "devices=$ndev" rss_file "$file" KiB
		csv idle "devices=$ndev" threads "$threads" count
		csv idle "devices=$ndev" "ctx_switches_per_${IDLE_SECONDS}s" "$wake" count
		csv idle "devices=$ndev" "syscalls_per_${IDLE_SECONDS}s" "${strace_line%% *}" count
		VREADY_LAST=$VREADY_S
		vfptd_fake_stop
	done
	{
		echo "   RssFile counts the shared libraries' pages (libc, libsystemd, libudev, the fake-kernel preload); RssAnon is vfptd's own;"
		echo "   Pss divides shared pages among the processes that map them. Start-up to READY=1 at ${IDLE_DEVICES} devices: ${VREADY_LAST:-?} s"
		echo "   (the preload fake kernel re-reads the whole tree before every write: O(N) a write, test double only)."
		echo "   Resident pages by mapping at ${IDLE_DEVICES} devices (KiB, from /proc/PID/smaps):"
		sed 's/^/     /' "$OUT/idle-$IDLE_DEVICES.by-mapping"
	} >>"$OUT/table.txt"
}

# --- the guest -------------------------------------------------------------------

vm() {
	[ "$(id -u)" = 0 ] || { log "the guest benchmarks need root (see tests/vm/README.md); skipped"; return 0; }
	BENCH_OUT=$OUT bash "$here/vm-bench.sh" "$B" || { log "vm-bench.sh failed"; return 1; }
	[ -f "$OUT/vm-table.txt" ] && cat "$OUT/vm-table.txt" >>"$OUT/table.txt"
	[ -f "$OUT/vm.csv" ] && cat "$OUT/vm.csv" >>"$CSV.tmp.$$"
	return 0
}

rc=0
: >"$CSV.tmp.$$"
: >"$OUT/table.txt"
rm -f "$OUT/scale.raw" "$OUT/scale.log"
{
	echo "vfpt benchmarks — $(date -u +%FT%TZ) — $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "build $B ($(git -C "$here" describe --always --dirty 2>/dev/null || echo '?'))"
} >>"$OUT/table.txt"
case $mode in
--host | --all)
	scale || rc=1
	idle || rc=1
	;;
--scale) scale || rc=1 ;;
--idle) idle || rc=1 ;;
esac
case $mode in
--vm | --all) vm || rc=1 ;;
esac
{
	echo "section,case,metric,value,unit"
	cat "$CSV.tmp.$$"
} >"$CSV"
rm -f "$CSV.tmp.$$"
cat "$OUT/table.txt"
echo
echo "CSV: $CSV"
exit "$rc"
