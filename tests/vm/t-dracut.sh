#!/bin/bash
# The early claim from a dracut initramfs (dracut module 90vfpt). The guest
# boots Debian's kernel with initramfs images that dracut made inside its
# image (a variant of the base with dracut instead of initramfs-tools);
# force_drivers makes them load e1000e early (rd.driver.pre, in dracut's
# cmdline hook), and a drop-in lists the e1000e in root-port slot 1.
#  - hook off: the kernel log shows e1000e binding that device (in the
#    initramfs) before vfptd.service takes it: what the module is for;
#  - hook on, systemd in the initramfs (Debian's default): the kernel log
#    never shows e1000e on that device, vfptd --once (vfpt-initramfs.service)
#    said what it did, the device is on vfio-pci with the record
#    vfptd.service adopted, and the other e1000e is on e1000e;
#  - vfptctl check says the initramfs is current, and out of date (naming
#    the file, and dracut's command) once the drop-in changes;
#  - hook on, dracut's own init (--omit systemd; the cmdline hook): the same
#    early claim.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-dracut.sh"
vm_init dracut "$1"

# The drop-in goes into the image before the guest ever runs, so its address
# is the one this machine gives root port 1's device (tests/vm/README.md);
# checked in the guest below.
nic=0000:01:00.0
vm_dracut_disk e1000e 50-nic '[nic]' "addresses = $nic"
e1000e_on_nic="e1000e $nic"

# What dracut said while making the images (dracut --verbose; only the
# lines about modules, the rest lists every file).
dlog() { grep -E 'Including module|vfpt' "$VM_RUN/dracut-$1.log"; }
assert_no_match "hook off: dracut packed nothing of vfpt" 'vfpt: packed' "$(dlog off)"
assert_match "hook on: dracut packed the drop-in" 'vfpt: packed 1 drop-in\(s\) for ' "$(dlog on)"
assert_match "hook on: with systemd in the initramfs" 'Including module: systemd \*' "$(dlog on)"
assert_match "hook on: vfpt-initramfs.service is in it" 'sysinit.target.wants/vfpt-initramfs.service' "$(dlog on)"
assert_no_match "hook on, --omit systemd: no systemd in the initramfs" 'Including module: systemd \*' "$(dlog on-shell)"
assert_match "hook on, --omit systemd: dracut packed the drop-in" 'vfpt: packed 1 drop-in\(s\) for ' "$(dlog on-shell)"
assert_match "hook on, --omit systemd: the cmdline hook is in it" 'hooks/cmdline/00-vfpt-claim.sh' "$(dlog on-shell)"

# This boot's kernel log, the lines of e1000e and of the early claim (the
# whole log is too long to pass through the agent quickly under TCG).
vm_klog() { vm_run "journalctl -k -b --no-pager -o short-monotonic | grep -E 'e1000e|vfpt-initramfs'"; }

# early_claim_ok MODE — the assertions of a boot with the claim on.
early_claim_ok() {
	local mode=$1 klog other
	klog=$(vm_klog)
	vm_log "the early claim in the kernel log ($mode):"$'\n'"$(printf '%s\n' "$klog" | grep -E 'vfpt-initramfs:')"
	assert_match "hook on ($mode): vfptd --once claimed in the initramfs" \
		'vfpt-initramfs: 1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$klog"
	assert_no_match "hook on ($mode): no warning from the claim script" \
		'vfpt-initramfs: (udev is already running|some devices|vfptd --once failed)' "$klog"
	assert_no_match "hook on ($mode): e1000e never bound $nic" "$e1000e_on_nic" "$klog"
	other=$(vm_addr_in_slot 2)
	assert_match "hook on ($mode): the initramfs did load e1000e (it bound the other one, $other)" "e1000e $other" "$klog"
	assert_driver "$nic" vfio-pci "the listed e1000e ($mode)"
	assert_driver "$other" e1000e "the unlisted e1000e ($mode)"
	assert_guest "the record of the early claim reached the real root ($mode)" "test -f /run/vfptd/devices/$nic"
	assert_eq "it says the device had no driver before ($mode)" "" "$(vm_run cat /run/vfptd/devices/$nic)"
	assert_eq "vfptd.service adopted it ($mode)" \
		"1 device in 1 group bound to vfio-pci; 0 absent; 0 refused; 0 failed" "$(vm_status)"
	assert_no_match "vfptd.service had nothing to take over ($mode)" 'bound it first|took it' "$(vm_journal_vfptd)"
}

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

# --- hook on, systemd in the initramfs ----------------------------------------
VM_INITRD=$VM_RUN/initrd-on
vm_boot
early_claim_ok systemd
# The journal (the initramfs's systemd logs to the kernel log until its
# journald runs): the unit finished before dracut's cmdline hooks
# (rd.driver.pre loads e1000e there) and udev started.
order=$(vm_run "journalctl -b --no-pager -o cat | grep -oE '(Finished vfpt-initramfs|Starting dracut-cmdline|Starting systemd-udevd)\\.service' | head -n 3")
assert_eq "the claim ran as vfpt-initramfs.service, before dracut's cmdline hooks and udev" \
	"Finished vfpt-initramfs.service"$'\n'"Starting dracut-cmdline.service"$'\n'"Starting systemd-udevd.service" "$order"

check=$(vm_run vfptctl check)
assert_match "vfptctl check: the initramfs claim is current" '^info +initramfs claim: claims early' "$check"
vm_conf_live 50-nic '[nic]' "addresses = $nic" '# changed after dracut'
check=$(vm_run vfptctl check)
assert_match "vfptctl check: out of date once the drop-in changed" \
	'^info +initramfs claim: the initramfs of .* is out of date: 50-nic.conf changed since it was made' "$check"
assert_match "vfptctl check says what to run (dracut's command)" 'note: run dracut --regenerate-all --force' "$check"
# Back as it was packed, for the next boot.
vm_conf_live 50-nic '[nic]' "addresses = $nic"
vm_poweroff

# --- hook on, dracut's own init (no systemd in the initramfs) ------------------
VM_INITRD=$VM_RUN/initrd-on-shell
vm_boot
early_claim_ok "dracut init"
assert_no_match "no systemd in this initramfs: no vfpt-initramfs.service (the cmdline hook claimed)" \
	'vfpt-initramfs\.service' "$(vm_run "journalctl -k -b --no-pager -o cat | grep -F vfpt-initramfs.service || true")"
vm_poweroff
vm_pass
