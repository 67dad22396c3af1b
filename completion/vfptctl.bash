# bash completion for vfptctl(8)                          -*- shell-script -*-
#
# Commands, their options, directories for the options that take one, and
# the PCI addresses for claim (every device that is not a bridge, from
# `vfptctl groups --quiet`) and release (what vfptd tracks, from
# `vfptctl status --quiet`). The addresses come from the vfptctl being
# completed, so this works for a build tree's vfptctl as well.

# Prints the addresses a COMMAND (groups or status) lists, one per line.
# $1: the vfptctl to run; the rest: its arguments.
_vfptctl_addresses()
{
    local ctl=$1
    shift
    # status asks vfptd on the bus; never let a busy daemon hang the shell.
    if type -P timeout >/dev/null; then
        timeout 5 "$ctl" "$@" --quiet 2>/dev/null
    else
        "$ctl" "$@" --quiet 2>/dev/null
    fi
}

_vfptctl()
{
    local cur prev words cword split
    # PCI addresses contain colons: keep them in one word.
    _init_completion -s -n : || return

    local ctl=${1:-vfptctl}
    local commands='status groups check plan claim release reload qemu-args'
    local dir_options='--sysfs-root --proc-root --config-dir --runtime-dir --records-dir'

    case $prev in
        --sysfs-root | --proc-root | --config-dir | --runtime-dir | --records-dir)
            _filedir -d
            return
            ;;
    esac
    $split && return

    # The command is the first word that is neither an option nor an
    # option's argument; count its arguments given so far.
    local i word command='' n_args=0 sysfs_root=''
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        case $word in
            --sysfs-root)
                sysfs_root=${words[i + 1]-}
                ((i++))
                ;;
            --sysfs-root=*)
                sysfs_root=${word#*=}
                ;;
            --proc-root | --config-dir | --runtime-dir | --records-dir)
                ((i++))
                ;;
            -*) ;;
            *)
                if [[ -z $command ]]; then
                    command=$word
                else
                    ((n_args++))
                fi
                ;;
        esac
    done

    local options='--help'
    case $command in
        '')
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W '--help --version' -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            fi
            return
            ;;
        status) options+=' --json --quiet' ;;
        groups) options+=' --json --quiet --sysfs-root' ;;
        check) options+=' --json --sysfs-root --proc-root' ;;
        plan) options+=" --json $dir_options" ;;
        claim | release) options+=' --persist' ;;
        qemu-args) options+=' --libvirt' ;;
        reload) ;;
        *) return ;; # not a command of vfptctl
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
        return
    fi

    if ((n_args == 0)) && [[ $command == claim || $command == release ]]; then
        local list
        if [[ $command == claim ]]; then
            list=$(_vfptctl_addresses "$ctl" groups ${sysfs_root:+--sysfs-root "$sysfs_root"})
        else
            list=$(_vfptctl_addresses "$ctl" status)
        fi
        local IFS=$'\n'
        COMPREPLY=($(compgen -W "$list" -- "$cur"))
        __ltrim_colon_completions "$cur"
    fi
} &&
    complete -F _vfptctl vfptctl

# ex: filetype=sh
