#!/bin/bash
# The early claim from the initramfs (initramfs-tools). The guest boots
# Debian's kernel with an initramfs that update-initramfs made inside its
# image; /etc/initramfs-tools/modules makes that initramfs load e1000e early,
# and a drop-in lists the e1000e in root-port slot 1.
#  - hook off: the kernel log shows e1000e binding that device (in the
#    initramfs) before vfptd.service takes it: what the hook is for;
#  - hook on: the kernel log never shows e1000e on that device, vfptd --once
#    said what it did, the device is on vfio-pci with the record vfptd.service
#    adopted, and the other e1000e is on e1000e;
#  - vfptctl check says the initramfs is current, and out of date (naming
#    the file) once the drop-in changes.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-initramfs.sh"
vm_init initramfs "$1"

# The drop-in goes into the image before the guest ever runs, so its address
# is the one this machine gives root port 1's device (tests/vm/README.md);
# checked in the guest below.
nic=0000:01:00.0
vm_initramfs_disk e1000e 50-nic '[nic]' "addresses = $nic"
e1000e_on_nic="e1000e $nic"

# This boot's kernel log, the lines of e1000e and of the early claim (the
# whole log is too long to pass through the agent quickly under TCG).
vm_klog() { vm_run "journalctl -k -b --no-pager -o short-monotonic | grep -E 'e1000e|vfpt-initramfs'"; }

# --- hook off ----------------------------------------------------------------
VM_INITRD=$VM_RUN/initrd-off
vm_boot
assert_eq "root port 1 holds $nic" "$nic" "$(vm_addr_in_slot 1)"
klog=$(vm_klog)
assert_no_match "hook off: no early claim ran" 'vfpt-initramfs:' "$klog"
assert_match "hook off: e1000e bound $nic first (in the initramfs)" "$e1000e_on_nic" "$klog"
vm_wait_driver "$nic" vfio-pci 30 || true
assert_driver "$nic" vfio-pci "the listed e1000e (taken over by vfptd.service)"
assert_eq "hook off: vfptd.service took it from e1000e (its record)" e1000e "$(vm_run cat /run/vfptd/devices/$nic)"
vm_poweroff

# --- hook on -----------------------------------------------------------------
VM_INITRD=$VM_RUN/initrd-on
vm_boot
klog=$(vm_klog)
vm_log "the early claim in the kernel log:"$'\n'"$(printf '%s\n' "$klog" | grep -E 'vfpt-initramfs:')"
assert_match "hook on: vfptd --once claimed in the initramfs" \
	'vfpt-initramfs: 1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$klog"
assert_no_match "hook on: no warning from the boot script" 'vfpt-initramfs: (udev is already running|some devices|vfptd --once failed)' "$klog"
assert_no_match "hook on: e1000e never bound $nic" "$e1000e_on_nic" "$klog"
other=$(vm_addr_in_slot 2)
assert_match "hook on: the initramfs did load e1000e (it bound the other one, $other)" "e1000e $other" "$klog"
assert_driver "$nic" vfio-pci "the listed e1000e"
assert_driver "$other" e1000e "the unlisted e1000e"
assert_guest "the record of the early claim reached the real root" "test -f /run/vfptd/devices/$nic"
assert_eq "it says the device had no driver before" "" "$(vm_run cat /run/vfptd/devices/$nic)"
assert_eq "vfptd.service adopted it" \
	"1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed" "$(vm_status)"
assert_no_match "vfptd.service had nothing to take over" 'bound it first|took it' "$(vm_journal_vfptd)"

check=$(vm_run vfptctl check)
assert_match "vfptctl check: the initramfs claim is current" '^info +initramfs claim: claims early' "$check"
vm_conf_live 50-nic '[nic]' "addresses = $nic" '# changed after update-initramfs'
check=$(vm_run vfptctl check)
assert_match "vfptctl check: out of date once the drop-in changed" \
	'^info +initramfs claim: the initramfs of .* is out of date: 50-nic.conf changed since it was made' "$check"
assert_match "vfptctl check says what to run" 'note: run update-initramfs -u -k all' "$check"
assert_match "vfptctl status says so too" '^initramfs: the initramfs of .* is out of date' "$(vm_run vfptctl status)"

vm_poweroff
vm_pass
