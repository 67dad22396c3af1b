#!/bin/bash
# test-man.sh — the built manual pages render without a single groff or man
# warning at 80 columns, fit in 80 columns, and document what the code has:
# every option of vfptd and vfptctl (taken from their --help), every
# command of vfptctl, every configuration key (lib/vfpt-names.h), and every
# D-Bus method, property and error (the introspection XML, bus-names.h).
#
# usage: test-man.sh SOURCE_ROOT VFPTD VFPTCTL PAGE...
set -u

SRC=${1:?usage}
VFPTD=${2:?usage}
VFPTCTL=${3:?usage}
shift 3

if ! command -v man >/dev/null; then
        echo "SKIP: man is not installed (man-db)" >&2
        exit 77
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/vfpt-man-XXXXXX")
trap 'rm -rf -- "$W"' EXIT
failures=0
checks=0
fail() {
        echo "FAIL: $*" >&2
        failures=$((failures + 1))
}
pass() { checks=$((checks + 1)); }

declare -A text roff
for page in "$@"; do
        name=$(basename "$page")
        warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        [ -z "$warnings" ] && pass || fail "$name: man --warnings: $warnings"
        # The rendered text (man strips the formatting when not writing to a terminal).
        MANWIDTH=80 man -l "$page" 2>/dev/null >"$W/$name.txt"
        text[$name]=$W/$name.txt
        # scdoc writes a period as .\& (no end of sentence); take that out.
        sed 's/\\&//g' "$page" >"$W/$name.roff"
        roff[$name]=$W/$name.roff
        [ -s "$W/$name.txt" ] && pass || fail "$name: renders to nothing"
        long=$(awk 'length($0) > 80 { print FILENAME ":" FNR ": " length($0) " columns" }' "$W/$name.txt")
        [ -z "$long" ] && pass || fail "$name: lines wider than 80 columns: $long"
        # Formatting that scdoc did not understand shows as stray markup.
        stray=$(grep -nE '(^|[^[:alnum:]])\*[[:alpha:]-]+\*|\\fB|\\fI' "$W/$name.txt")
        [ -z "$stray" ] && pass || fail "$name: stray markup: $stray"
done

for page in vfptd.8 vfptctl.8 vfpt.d.5 org.vfpt1.5; do
        [ -n "${text[$page]-}" ] && pass || fail "$page was not built"
done
[ "$failures" -eq 0 ] || { echo "$failures of $((checks + failures)) checks failed" >&2; exit 1; }

# section PAGE NAME: the rendered text of one section (NAME as its heading).
section() {
        awk -v name="$2" '/^[A-Z]/ { inside = ($0 == name); next } inside' "${text[$1]}"
}

# Looked up in the roff source: rendered text may break a line after a hyphen.
documents() { # PAGE WORD DESCRIPTION
        if grep -qF -- "$2" "${roff[$1]}"; then pass; else fail "$1 does not mention $3 '$2'"; fi
}

# vfptd: every long option its --help lists.
"$VFPTD" --help >"$W/vfptd.help" || fail "vfptd --help failed"
for opt in $(grep -oE -- '--[a-z][a-z-]+' "$W/vfptd.help" | sort -u); do
        documents vfptd.8 "$opt" "the option"
done

# vfptctl: every command and every long option of its --help.
"$VFPTCTL" --help >"$W/vfptctl.help" || fail "vfptctl --help failed"
for opt in $(grep -oE -- '--[a-z][a-z-]+' "$W/vfptctl.help" | sort -u); do
        documents vfptctl.8 "$opt" "the option"
done
for cmd in $(sed -n '/^Commands:/,/^$/p' "$W/vfptctl.help" | awk 'NF && !/^Commands:/ { print $1 }'); do
        documents vfptctl.8 "$cmd" "the command"
        section vfptctl.8 COMMANDS | grep -qE "^ {7}$cmd( |$)" && pass ||
                fail "vfptctl.8 has no entry for command $cmd under COMMANDS"
done

# vfpt.d: every key the parser knows, each with an entry of its own.
keys=$(sed -nE 's/^#define VFPT_KEY_[A-Z0-9_]+ "([a-z0-9_]+)".*/\1/p' "$SRC/lib/vfpt-names.h")
[ -n "$keys" ] && pass || fail "no keys found in lib/vfpt-names.h"
for key in $keys; do
        section vfpt.d.5 KEYS | grep -qE "^ {7}$key = " && pass || fail "vfpt.d.5 has no entry for key $key under KEYS"
done
for dir in $(sed -nE 's/^#define VFPT_CONFIG_DIRS (.*)/\1/p' "$SRC/lib/vfpt-names.h" | tr -d '",'); do
        documents vfpt.d.5 "$dir" "the configuration directory"
done

# org.vfpt1: every method, property and error of the interface.
for xml in "$SRC"/systemd/org.vfpt1.*.xml; do
        for member in $(grep -oE '<(method|property|signal) name="[A-Za-z]+"' "$xml" | sed -E 's/.*name="([^"]+)"/\1/'); do
                documents org.vfpt1.5 "$member" "the member"
        done
        iface=$(grep -oE '<interface name="[^"]+"' "$xml" | sed -E 's/.*name="([^"]+)"/\1/')
        documents org.vfpt1.5 "$iface" "the interface"
done
for err in $(grep -oE '"org\.vfpt1\.Error\.[A-Za-z]+"' "$SRC/daemon/bus-names.h" | tr -d '"'); do
        documents org.vfpt1.5 "$err" "the error"
done

if [ "$failures" -ne 0 ]; then
        echo "$failures of $((checks + failures)) checks failed" >&2
        exit 1
fi
echo "$checks passed, 0 failed"
