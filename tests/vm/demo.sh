#!/bin/bash
# demo.sh BUILDDIR — show vfpt in a real (QEMU) guest: build the guest image
# if needed, boot it once with vfptd masked ("before"), write a drop-in,
# boot again with vfptd running ("after"), show the config, the status, the
# journal, and every device's driver and IOMMU group each time, power off.
#   meson setup build && meson compile -C build && tests/vm/demo.sh build
set -uo pipefail
if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: building and booting the guest image needs root; re-running with sudo" >&2
	exec sudo --preserve-env=VFPT_VM_CACHE,XDG_CACHE_HOME "$0" "$@"
fi
[ -n "${1:-}" ] || { echo "usage: $0 BUILDDIR" >&2; exit 2; }
. "$(dirname "$0")/lib.sh"
vm_init demo "$1"

show() { # show TITLE GUEST-COMMAND
	printf '\n\033[1m### %s\033[0m\n$ %s\n' "$1" "$2"
	vm_run "$2"
}

vm_disk_new
VM_APPEND="systemd.mask=vfptd.service"
vm_boot
printf '\n\033[1m======== BEFORE: vfptd masked (boot took %s s) ========\033[0m\n' "$VM_BOOT_TIME"
show "PCI devices, drivers and IOMMU groups" "vfpt-test-pci table"

# Addresses are found in the guest: the e1000e in QEMU root port slot 1.
nic1=$(vm_addr_in_slot 1)
vm_conf_live demo \
	'# The USB controller, by vendor:device.' \
	'[usb]' 'ids = 1b36:000d' '' \
	'# One of the two identical e1000e NICs, pinned to its slot.' \
	'[one-nic]' 'ids = 8086:10d3' "addresses = $nic1" '' \
	'# The e1000 behind the PCIe-to-PCI bridge: its IOMMU group also holds' \
	'# an rtl8139, which is claimed with it (group = claim, the default).' \
	'[behind-bridge]' 'ids = 8086:100e' '' \
	'# The root disk: refused by the guards, whatever the rule says.' \
	'[disk]' 'ids = 1af4:1001 1af4:1042'
show "the configuration" "cat /etc/vfpt.d/*.conf"
show "what vfptd would do" "vfptd --dry-run"

vm_poweroff
VM_APPEND=
vm_boot
printf '\n\033[1m======== AFTER: vfptd enabled (boot took %s s) ========\033[0m\n' "$VM_BOOT_TIME"
show "vfptd's status" "systemctl status vfptd --no-pager"
show "vfptd's journal" "journalctl -b -u vfptd --no-pager -o short-monotonic"
show "PCI devices, drivers and IOMMU groups" "vfpt-test-pci table"
show "VFIO group nodes" "ls -l /dev/vfio"
show "a VFIO user can take the claimed groups" \
	"for d in \$(vfpt-test-pci find 1b36:000d) $nic1 \$(vfpt-test-pci find 8086:100e); do vfio-probe \$d; done"
show "the other e1000e kept its driver and interface" "ip -br link"

vm_poweroff
printf '\nDemo done in %s s. Serial log: %s\n' "$((SECONDS - VM_STARTED))" "$VM_RUN/serial.log"
vm_pass 2>/dev/null
