#!/bin/bash
# The Debian package in a real guest: the image gets vfpt from its .deb
# (built on the host from this tree, `dpkg -i` in the image; VM_FROM_DEB=1),
# not from `meson install`.  The package's postinst enabled vfptd: on the
# first boot it runs and claims nothing (no rule shipped); with a drop-in
# naming one e1000e by address, the next boot puts that one on vfio-pci and
# leaves the other alone.  Then `dpkg -r` stops the service and the device
# stays on vfio-pci; `dpkg -P` forgets the records in /run and the enablement.
# shellcheck disable=SC2016 # $... in single quotes expands in the guest
. "$(dirname "$0")/lib.sh"
vm_init package "$1"
# shellcheck disable=SC2034 # read by lib.sh (vm_project_image)
VM_FROM_DEB=1
vm_disk_new
vm_boot

assert_eq "dpkg has vfpt installed" "install ok installed" "$(vm_run dpkg-query -W -f='\${Status}' vfpt)"
assert_eq "the package enabled vfptd" enabled "$(vm_run systemctl is-enabled vfptd)"
assert_eq "vfptd is active" active "$(vm_run systemctl is-active vfptd)"
assert_eq "no rule shipped: /etc/vfpt.d is empty" "" "$(vm_run ls -A /etc/vfpt.d)"
assert_match "with no rule it claims nothing" '^0 devices? in 0 groups? bound to vfio-pci' "$(vm_status)"
nic1=$(vm_addr_in_slot 1)
nic2=$(vm_addr_in_slot 2)
assert_driver "$nic1" e1000e "the first e1000e (no rule yet)"

vm_conf_live 50-one-nic '[one-nic]' "addresses = $nic1"
vm_reboot

assert_eq "still enabled after a reboot" enabled "$(vm_run systemctl is-enabled vfptd)"
assert_driver "$nic1" vfio-pci "the e1000e named in the drop-in"
assert_driver "$nic2" e1000e "the other e1000e"
assert_match "status line" '^1 devices? in 1 groups? bound to vfio-pci; 0 absent; 0 refused; 0 failed' "$(vm_status)"
assert_guest "vfio-probe: the claimed e1000e's group is usable" "vfio-probe $nic1"
assert_guest "vfptd recorded the original driver under /run/vfptd" 'test -n "$(ls -A /run/vfptd)"'

# Remove: prerm stops the service; stopping releases nothing.
assert_guest "dpkg -r vfpt" "dpkg -r vfpt"
assert_eq "after remove: vfptd is stopped" inactive "$(vm_run systemctl is-active vfptd)"
assert_driver "$nic1" vfio-pci "after remove: the claimed e1000e (stays bound)"
assert_driver "$nic2" e1000e "after remove: the other e1000e"
assert_guest "after remove: the rule stays" "test -f /etc/vfpt.d/50-one-nic.conf"
assert_guest "dpkg -P vfpt" "dpkg -P vfpt"
assert_guest "after purge: /run/vfptd and /run/vfpt.d are gone" "! test -e /run/vfptd && ! test -e /run/vfpt.d"
assert_guest "after purge: no enablement symlink" "! test -e /etc/systemd/system/sysinit.target.wants/vfptd.service"
assert_eq "after purge: systemd knows no vfptd.service" "not-found" "$(vm_run systemctl show -p LoadState --value vfptd)"
assert_guest "after purge: the administrator's rule stays" "test -f /etc/vfpt.d/50-one-nic.conf"
assert_driver "$nic1" vfio-pci "after purge: the claimed e1000e (until reboot or a hand-made unbind)"

vm_poweroff
vm_pass
