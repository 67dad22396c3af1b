#!/bin/bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs one for a
# while. Usage: run.sh TARGET SECONDS [OUTDIR]
#   TARGET: config | address
# A crash leaves crash-* in OUTDIR (default: a temp dir, printed); turn each
# into a unit test. Longer runs: tests/fuzz/run.sh config 3600
set -euo pipefail
target=$1 seconds=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${3:-$(mktemp -d /tmp/vfpt-fuzz-XXXXXX)}
mkdir -p "$out/corpus"
command -v clang >/dev/null || { echo "fuzz: clang not installed; skipping"; exit 77; }

flags=(-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -I"$src/lib" $(pkg-config --cflags inih))
libs=$(pkg-config --libs inih)
case $target in
config) # The parser's keys reach into the rest of the library (vfpt-devprep.c
	# and what it uses): all of it but the module loading (libkmod).
	files=()
	for f in "$src"/lib/vfpt-*.c; do
		case $f in */vfpt-modules.c | */vfpt-modload.c) ;; *) files+=("$f") ;; esac
	done ;;
address) files=("$src/lib/vfpt-address.c") ;;
*) echo "fuzz: unknown target $target" >&2; exit 2 ;;
esac
clang "${flags[@]}" -o "$out/fuzz-$target" "$src/tests/fuzz/fuzz-$target.c" "${files[@]}" $libs

echo "fuzz: $target for ${seconds}s, corpus $out/corpus, seeds $src/tests/fuzz/corpus/$target"
cd "$out"
"./fuzz-$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 \
        corpus "$src/tests/fuzz/corpus/$target" 2>&1 | tail -n 25
