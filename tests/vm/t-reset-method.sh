#!/bin/bash
# reset_method on a real kernel: the e1000e in root port slot 1 sits behind
# a pcie-root-port, so the kernel offers it a PM reset and a secondary bus
# reset ("pm bus").  A rule with `reset_method = bus` claims it and narrows
# the attribute to "bus" (vfptctl status and the D-Bus object say so, and a
# VFIO user can still open it, which resets it); a rule asking the slot-2
# e1000e for "flr", which it lacks, is refused with the methods it has and
# leaves it on e1000e, attribute untouched; removing the rule and reloading
# gives the first one back to e1000e with "default" written, so the
# attribute lists "pm bus" again and the record under /run is gone.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init reset-method "$1"
vm_disk_new
vm_boot
vm_kill_shim

nic1=$(vm_addr_in_slot 1)
nic2=$(vm_addr_in_slot 2)
offered=$(vm_run "cat /sys/bus/pci/devices/$nic1/reset_method")
vm_log "the kernel offers $nic1: $offered; $nic2: $(vm_run "cat /sys/bus/pci/devices/$nic2/reset_method")"
assert_eq "the slot-1 e1000e behind its root port is offered pm and bus" "pm bus" "$offered"

vm_conf_live 50-reset '[nic]' "addresses = $nic1" 'reset_method = bus' \
	'[nic2]' "addresses = $nic2" 'reset_method = flr'
cursor=$(vm_journal_cursor)
assert_guest "systemctl reload vfptd (claim with reset_method)" systemctl reload vfptd
vm_wait_driver "$nic1" vfio-pci 20 || true
assert_driver "$nic1" vfio-pci "the e1000e with reset_method = bus"
assert_eq "its reset_method reads bus" bus "$(vm_run "cat /sys/bus/pci/devices/$nic1/reset_method")"
assert_eq "what the kernel offered is recorded" "pm bus" \
	"$(vm_run "cat /run/vfptd/devices/reset_method/$nic1 2>&1")"
assert_driver "$nic2" e1000e "the e1000e asked for flr (refused)"
assert_eq "its reset_method is untouched" "pm bus" "$(vm_run "cat /sys/bus/pci/devices/$nic2/reset_method")"
journal=$(vm_journal_after "$cursor" -u vfptd)
vm_log "journal:"$'\n'"$(printf '%s\n' "$journal" | grep -E "reset|refused" | head -n 10)"
assert_match "vfptd logged the reset_method it set" "$nic1: reset_method set to 'bus'.*offers 'pm bus'" "$journal"
assert_match "vfptd logged the refusal, with the methods the device has" \
	"$nic2 .*refused.*reset method 'flr'.*it offers: pm bus" "$journal"

status=$(vm_run vfptctl status)
vm_log "vfptctl status:"$'\n'"$status"
assert_match "vfptctl status shows the reset method" "^$nic1 .* claimed +nic +bus " "$status"
path=$(vm_run "busctl call org.vfpt1 /org/vfpt1 org.vfpt1.Manager GetDevice s $nic1 | cut -d'\"' -f2")
assert_eq "the D-Bus object's ResetMethod is bus" 's "bus"' \
	"$(vm_run "busctl get-property org.vfpt1 $path org.vfpt1.Device ResetMethod")"
assert_guest "vfio-probe (opens the device, which resets it): usable" "vfio-probe $nic1"

vm_run "rm /etc/vfpt.d/50-reset.conf" >/dev/null
assert_guest "systemctl reload vfptd (release)" systemctl reload vfptd
vm_wait_driver "$nic1" e1000e 20 || true
assert_driver "$nic1" e1000e "the released e1000e"
assert_eq "its reset_method is back to the kernel's default" "pm bus" \
	"$(vm_run "cat /sys/bus/pci/devices/$nic1/reset_method")"
assert_guest "its record is gone" "! test -e /run/vfptd/devices/reset_method/$nic1"
assert_eq "vfptd is active" active "$(vm_run systemctl is-active vfptd)"

vm_poweroff
vm_pass
