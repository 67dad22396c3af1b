#!/bin/bash
# owner and mode of /dev/vfio/N on a real kernel: `owner = nobody:kvm` and
# `mode = 0660` in a rule for the slot-1 e1000e.  When it is claimed the
# group's node is nobody:kvm 0660 and the VFIO probe run as nobody (group
# kvm, no other groups) can take the group; vfptctl status and the D-Bus
# object show the owner.  Then its mode is set to 0000 by hand and a udev
# "change" event for it makes vfptd set it again (the udev path); it is
# given to root 0600 by hand, and a restart of vfptd sets it at start-up;
# the rule goes and comes back (reload), and the new node gets the owner
# again.  Controls: with mode 0000 or as root 0600, the probe as nobody fails.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init node-owner "$1"
vm_disk_new
vm_boot
vm_kill_shim

nic1=$(vm_addr_in_slot 1)
nobody="setpriv --reuid=nobody --regid=kvm --clear-groups"
assert_guest "the guest has a kvm group" "getent group kvm"
vm_log "/dev/vfio/vfio: $(vm_run 'stat -c "%U:%G %a" /dev/vfio/vfio')"
assert_guest "/dev/vfio/vfio can be opened by anyone (0666)" "[ \"\$(stat -c %a /dev/vfio/vfio)\" = 666 ]"

rule=('[nic]' "addresses = $nic1" 'owner = nobody:kvm' 'mode = 0660')
vm_conf_live 50-owner "${rule[@]}"
assert_guest "systemctl reload vfptd (claim)" systemctl reload vfptd
vm_wait_driver "$nic1" vfio-pci 20 || true
assert_driver "$nic1" vfio-pci "the e1000e"
group=$(vm_run vfpt-test-pci group "$nic1")
node=/dev/vfio/$group
owner() { vm_run "stat -c '%U:%G %a' $node"; }
vm_wait_guest 10 "[ \"\$(stat -c '%U:%G %a' $node)\" = 'nobody:kvm 660' ]" || true
assert_eq "$node is nobody:kvm 0660 after the claim" "nobody:kvm 660" "$(owner)"
assert_guest "vfio-probe as nobody (group kvm only): the group is usable" "$nobody vfio-probe $nic1"

status=$(vm_run vfptctl status)
vm_log "vfptctl status:"$'\n'"$status"
assert_match "vfptctl status shows the node owner" "^$nic1 .* claimed +nic +pm bus +nobody:kvm 0660" "$status"
path=$(vm_run "busctl call org.vfpt1 /org/vfpt1 org.vfpt1.Manager GetDevice s $nic1 | cut -d'\"' -f2")
assert_eq "the D-Bus object's NodeOwner" 's "nobody:kvm 0660"' \
	"$(vm_run "busctl get-property org.vfpt1 $path org.vfpt1.Device NodeOwner")"

# Mode taken away by hand: the probe as nobody fails (the control) ...
vm_run "chmod 0000 $node" >/dev/null
assert_guest_fails "control: vfio-probe as nobody fails on a nobody:kvm 0000 node" "$nobody vfio-probe $nic1"
# ... and udev's next event for the node brings it back (the node is
# nobody's now: vfptd's chmod needs CAP_FOWNER, which the unit grants).
cursor=$(vm_journal_cursor)
vm_run "udevadm trigger --action=change /sys/class/vfio/$group && udevadm settle" >/dev/null
vm_wait_guest 10 "[ \"\$(stat -c '%U:%G %a' $node)\" = 'nobody:kvm 660' ]" || true
assert_eq "after a udev change event for the node, nobody:kvm 0660 again" "nobody:kvm 660" "$(owner)"
assert_match "vfptd logged setting it" "$node: mode set to 0660" "$(vm_journal_after "$cursor" -u vfptd)"

# A restart of the daemon finds the node there and sets it at start-up.
vm_run "chown root:root $node && chmod 0600 $node" >/dev/null
assert_guest_fails "control: vfio-probe as nobody fails on a root 0600 node" "$nobody vfio-probe $nic1"
assert_guest "systemctl restart vfptd" systemctl restart vfptd
vm_wait_guest 10 "[ \"\$(stat -c '%U:%G %a' $node)\" = 'nobody:kvm 660' ]" || true
assert_eq "after a restart of vfptd, nobody:kvm 0660 again" "nobody:kvm 660" "$(owner)"
assert_driver "$nic1" vfio-pci "the e1000e (still, after the restart)"

# Released, the node goes; claimed again, the new node gets the owner.
vm_run "rm /etc/vfpt.d/50-owner.conf" >/dev/null
assert_guest "systemctl reload vfptd (release)" systemctl reload vfptd
vm_wait_driver "$nic1" e1000e 20 || true
assert_guest "$node is gone with the release" "! test -e $node"
vm_conf_live 50-owner "${rule[@]}"
assert_guest "systemctl reload vfptd (claim again)" systemctl reload vfptd
vm_wait_driver "$nic1" vfio-pci 20 || true
vm_wait_guest 10 "[ \"\$(stat -c '%U:%G %a' $node)\" = 'nobody:kvm 660' ]" || true
assert_eq "the new node is nobody:kvm 0660" "nobody:kvm 660" "$(owner)"
assert_guest "vfio-probe as nobody: usable again" "$nobody vfio-probe $nic1"

vm_poweroff
vm_pass
