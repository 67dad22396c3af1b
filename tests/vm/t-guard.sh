#!/bin/bash
# Scenario 4 — guard: a rule that matches the controller of the root disk
# (virtio-blk) is refused: the disk stays on virtio-pci, the guest stays up
# with a working root file system, vfptd stays active, and the refusal with
# its reason is in the journal.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init guard "$1"
vm_disk_new
# Transitional (1001) or modern (1042) virtio-blk, whichever QEMU gives.
vm_conf 50-disk '[disk]' 'ids = 1af4:1001 1af4:1042'
vm_boot

disk=$(vm_run 'basename "$(readlink -f /sys/block/vda/device/..)"')
assert_match "found the PCI device of the root disk" '^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$' "$disk"
assert_driver "$disk" virtio-pci "the root disk's controller"
assert_guest "the root file system is still writable" 'echo ok >/var/tmp/vfpt-guard && sync && cat /var/tmp/vfpt-guard'
assert_eq "vfptd is active" active "$(vm_run systemctl is-active vfptd)"
journal=$(vm_journal_vfptd)
vm_log "vfptd journal:"$'\n'"$journal"
assert_match "the journal has the refusal, the rule and a reason" "$disk.*refused.*rule 'disk'.*" "$journal"
assert_match "status line counts the refusal" '; 1 refused; 0 failed' "$(vm_status)"
assert_guest "no /dev/vfio group node was made" '! ls /dev/vfio/ | grep -q "^[0-9]"'

vm_poweroff
vm_pass
