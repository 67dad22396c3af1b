#!/bin/bash
# SR-IOV: QEMU's emulated NVMe with SR-IOV (its VFs carry the PF's own
# vendor:device, 1b36:0010) on a root port of its own. A rule with
# sriov_numvfs = 2 gives two VFs on vfio-pci at boot while the PF stays on
# nvme (vfptd makes them once nvme has bound the PF, with autoprobe off, so
# nvme never binds a VF); the VFs pass the VFIO probe; vfptctl status shows
# the PF's VF count and addresses. After a reload to sriov_numvfs = 3 there
# are three, all on vfio-pci, the PF still on nvme.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init sriov "$1"
vm_disk_new
# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
VM_EXTRA_ARGS=(
	-device pcie-root-port,id=rp7,chassis=7,slot=7,bus=pcie.0,addr=0x16
	-device nvme-subsys,id=subsys0
	-device nvme,bus=rp7,serial=vfpt-sriov,subsys=subsys0,sriov_max_vfs=4,sriov_vq_flexible=8,sriov_vi_flexible=4,max_ioqpairs=10,msix_qsize=5
)
vm_conf 50-sriov '[nvme-vfs]' 'ids = 1b36:0010' 'sriov_numvfs = 2'
vm_boot
vm_kill_shim

port=$(vm_pci_one port 7)
pf=$(vm_run "for d in \$(vfpt-test-pci under $port); do [ -e /sys/bus/pci/devices/\$d/sriov_totalvfs ] && echo \$d; done")
[ "$(printf '%s\n' "$pf" | grep -c .)" = 1 ] || vm_fail "expected one PF under $port, found: $pf"
vm_log "PF $pf, sriov_totalvfs $(vm_run "cat /sys/bus/pci/devices/$pf/sriov_totalvfs")"

# The PF's driver binds during udev's coldplug; vfptd makes the VFs then.
vm_wait_guest 30 "[ \"\$(cat /sys/bus/pci/devices/$pf/sriov_numvfs)\" = 2 ]" || true
assert_eq "the PF has 2 VFs" 2 "$(vm_run "cat /sys/bus/pci/devices/$pf/sriov_numvfs")"
assert_eq "sriov_drivers_autoprobe is off" 0 "$(vm_run "cat /sys/bus/pci/devices/$pf/sriov_drivers_autoprobe")"
mapfile -t vfs < <(vm_run "for l in /sys/bus/pci/devices/$pf/virtfn*; do basename \$(readlink \$l); done | sort")
assert_eq "two virtfn links" 2 "${#vfs[@]}"
for vf in "${vfs[@]}"; do
	vm_wait_driver "$vf" vfio-pci 20 || true
	assert_driver "$vf" vfio-pci "VF $vf"
	assert_eq "VF $vf has the PF's vendor:device" "0x1b36 0x0010 " \
		"$(vm_run "cat /sys/bus/pci/devices/$vf/vendor /sys/bus/pci/devices/$vf/device | tr '\n' ' '")"
	assert_guest "vfio-probe: VF $vf's group is viable and usable" "vfio-probe $vf"
done
assert_driver "$pf" nvme "the PF"
assert_eq "the PF has no driver_override" "(null)" "$(vm_run vfpt-test-pci override "$pf")"
journal=$(vm_journal_vfptd)
printf '%s\n' "$journal" >"$VM_RUN/journal-boot.txt"
assert_no_match "nvme never bound a VF (no unbind from nvme in vfptd's log)" "took it|bound it first" "$journal"
assert_match "vfptd logged making the VFs" "$pf .*made 2 virtual functions" "$journal"
assert_match "the status line counts the two VFs" '^2 devices in 2 groups bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$(vm_status)"

status=$(vm_run vfptctl status)
vm_log "vfptctl status:"$'\n'"$status"
assert_match "vfptctl status lists the PF as pf" "$pf .* nvme +pf +nvme-vfs" "$status"
assert_match "vfptctl status gives the PF's VFs" "$pf: 2 virtual functions \\(of [0-9]+\\): ${vfs[0]} ${vfs[1]}" "$status"
busctl=$(vm_run "busctl get-property org.vfpt1 \$(busctl call org.vfpt1 /org/vfpt1 org.vfpt1.Manager GetDevice s $pf | cut -d' ' -f2 | tr -d '\"') org.vfpt1.Device VirtualFunctions")
assert_eq "D-Bus: the PF object's VirtualFunctions" "as 2 \"${vfs[0]}\" \"${vfs[1]}\"" "$busctl"

# Reload to 3: 2 -> 0 -> 3, all claimed when the reload returns.
vm_conf_live 50-sriov '[nvme-vfs]' 'ids = 1b36:0010' 'sriov_numvfs = 3'
cursor=$(vm_journal_cursor)
assert_guest "systemctl reload vfptd (3 VFs)" systemctl reload vfptd
assert_eq "the PF has 3 VFs when the reload returns" 3 "$(vm_run "cat /sys/bus/pci/devices/$pf/sriov_numvfs")"
mapfile -t vfs < <(vm_run "for l in /sys/bus/pci/devices/$pf/virtfn*; do basename \$(readlink \$l); done | sort")
assert_eq "three virtfn links" 3 "${#vfs[@]}"
for vf in "${vfs[@]}"; do
	assert_driver "$vf" vfio-pci "VF $vf"
done
assert_guest "vfio-probe: the new third VF ${vfs[2]} is usable" "vfio-probe ${vfs[2]}"
assert_driver "$pf" nvme "the PF, after the reload"
journal=$(vm_journal_after "$cursor")
printf '%s\n' "$journal" >"$VM_RUN/journal-reload.txt"
assert_match "vfptd logged the change of count" "$pf .*virtual functions changed from 2 to 3" "$journal"
assert_match "the status line counts three VFs" '^3 devices in 3 groups bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$(vm_status)"

vm_poweroff
vm_pass
