#!/bin/bash
# test-completion.sh — completion/vfptctl.bash under the real bash-completion
# framework: commands, per-command options, directories for the options that
# take one, and PCI addresses for claim and release taken from a fake
# vfptctl put first in PATH (which records how it was called). Also that
# bash-completion's on-demand loader finds the file under its installed
# name, vfptctl.
#
# usage: test-completion.sh COMPLETION-SCRIPT
set -u

SCRIPT=${1:?usage}
FRAMEWORK=${BASH_COMPLETION_FRAMEWORK:-/usr/share/bash-completion/bash_completion}

if [ ! -r "$FRAMEWORK" ]; then
        echo "SKIP: $FRAMEWORK is missing (bash-completion is not installed)" >&2
        exit 77
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/vfpt-completion-XXXXXX")
trap 'rm -rf -- "$W"' EXIT
failures=0
checks=0
fail() {
        echo "FAIL: $*" >&2
        failures=$((failures + 1))
}
pass() { checks=$((checks + 1)); }

# A vfptctl that lists fixed addresses and writes down its arguments.
mkdir -p "$W/bin"
cat >"$W/bin/vfptctl" <<FAKE
#!/bin/bash
echo "\$*" >>"$W/calls"
case "\$*" in
"groups --quiet" | "groups --sysfs-root /fake/sys --quiet")
        printf '%s\n' 0000:00:14.0 0000:03:00.0 0000:03:00.1 0001:03:00.0 ;;
"status --quiet")
        printf '%s\n' 0000:02:00.0 0000:02:00.1 ;;
*)
        echo "fake vfptctl: unexpected arguments: \$*" >&2
        exit 2 ;;
esac
FAKE
chmod +x "$W/bin/vfptctl"
mkdir -p "$W/cwd/conf.d" "$W/cwd/other" && touch "$W/cwd/file.conf"

# complete_line LINE: completes at the end of LINE as bash does: the words
# split at white space and at the characters of COMP_WORDBREAKS (":" and "="
# each make a word of their own), COMP_LINE the line itself. Prints the
# sorted COMPREPLY on one line.
cat >"$W/driver.sh" <<'DRIVER'
set -u
. "$FRAMEWORK"
. "$SCRIPT"
complete_line() {
        local line=$1 word='' c i breaks=${COMP_WORDBREAKS//[[:space:]\"\']/}
        COMP_WORDS=()
        for ((i = 0; i < ${#line}; i++)); do
                c=${line:i:1}
                if [[ $c == [[:space:]] ]]; then
                        [[ -n $word ]] && COMP_WORDS+=("$word")
                        word=''
                elif [[ $breaks == *"$c"* ]]; then
                        [[ -n $word ]] && COMP_WORDS+=("$word")
                        COMP_WORDS+=("$c")
                        word=''
                else
                        word+=$c
                fi
        done
        COMP_WORDS+=("$word")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE=$line
        COMP_POINT=${#line}
        COMPREPLY=()
        _vfptctl vfptctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>"$W/stderr"
        printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}
DRIVER

check() { # DESCRIPTION EXPECTED LINE
        local got
        got=$(cd "$W/cwd" && PATH="$W/bin:$PATH" FRAMEWORK="$FRAMEWORK" SCRIPT="$SCRIPT" W="$W" \
                bash -c '. "$W/driver.sh"; complete_line "$1"' complete "$3")
        if [ "$got" = "$2" ]; then
                pass
        else
                fail "$1: completing '$3' gave '$got', expected '$2'"
        fi
        if [ -s "$W/stderr" ]; then
                fail "$1: the completion wrote to stderr: $(cat "$W/stderr")"
        fi
}

all='check claim groups plan qemu-args release reload status'
check "vfptctl <TAB>: every command" "$all" 'vfptctl '
check "vfptctl cl<TAB>" "claim" 'vfptctl cl'
check "vfptctl re<TAB>" "release reload" 'vfptctl re'
check "vfptctl -<TAB>: the options that need no command" "--help --version" 'vfptctl -'
check "vfptctl --json <TAB>: options before the command" "$all" 'vfptctl --json '
check "vfptctl status --<TAB>" "--help --json --quiet" 'vfptctl status --'
check "vfptctl plan --c<TAB>" "--config-dir" 'vfptctl plan --c'
check "vfptctl claim --<TAB>" "--help --persist" 'vfptctl claim --'
check "vfptctl qemu-args --<TAB>" "--help --libvirt" 'vfptctl qemu-args --'
check "vfptctl frob --<TAB>: no command, nothing" "" 'vfptctl frob --'

: >"$W/calls"
check "vfptctl claim <TAB>: the addresses groups --quiet lists" \
        "0000:00:14.0 0000:03:00.0 0000:03:00.1 0001:03:00.0" 'vfptctl claim '
grep -qx 'groups --quiet' "$W/calls" && pass || fail "claim asked '$(cat "$W/calls")', expected 'groups --quiet'"
: >"$W/calls"
check "vfptctl release <TAB>: the addresses status --quiet lists" "0000:02:00.0 0000:02:00.1" 'vfptctl release '
grep -qx 'status --quiet' "$W/calls" && pass || fail "release asked '$(cat "$W/calls")', expected 'status --quiet'"
check "vfptctl --persist release <TAB>" "0000:02:00.0 0000:02:00.1" 'vfptctl --persist release '
# Bash splits 0000:03 at the colon; the completion puts the words together
# and offers only what follows the last colon, which is what readline replaces.
check "vfptctl claim 0000:03<TAB>" "03:00.0 03:00.1" 'vfptctl claim 0000:03'
check "vfptctl claim 0000:03:00.<TAB>" "00.0 00.1" 'vfptctl claim 0000:03:00.'
check "vfptctl claim 0001<TAB>" "0001:03:00.0" 'vfptctl claim 0001'
: >"$W/calls"
check "vfptctl --sysfs-root DIR claim <TAB>: the same tree" \
        "0000:00:14.0 0000:03:00.0 0000:03:00.1 0001:03:00.0" 'vfptctl --sysfs-root /fake/sys claim '
grep -qx 'groups --sysfs-root /fake/sys --quiet' "$W/calls" && pass ||
        fail "claim with --sysfs-root asked '$(cat "$W/calls")'"
: >"$W/calls"
check "vfptctl claim ADDRESS <TAB>: one address only" "" 'vfptctl claim 0000:03:00.0 '
[ ! -s "$W/calls" ] && pass || fail "a second argument still ran vfptctl: $(cat "$W/calls")"
check "vfptctl status <TAB>: no arguments" "" 'vfptctl status '

check "vfptctl plan --config-dir <TAB>: directories" "conf.d other" 'vfptctl plan --config-dir '
check "vfptctl groups --sysfs-root=o<TAB>" "other" 'vfptctl groups --sysfs-root=o'

# The framework loads completions on demand by the command's name.
mkdir -p "$W/share/bash-completion/completions"
cp "$SCRIPT" "$W/share/bash-completion/completions/vfptctl"
loaded=$(XDG_DATA_DIRS="$W/share" BASH_COMPLETION_USER_DIR="$W/none" FRAMEWORK="$FRAMEWORK" \
        bash -c '. "$FRAMEWORK"; _completion_loader vfptctl; complete -p vfptctl' 2>&1)
[ "$loaded" = "complete -F _vfptctl vfptctl" ] && pass || fail "the loader did not find completions/vfptctl: $loaded"

if [ "$failures" -ne 0 ]; then
        echo "$failures of $((checks + failures)) checks failed" >&2
        exit 1
fi
echo "$checks passed, 0 failed"
