/* vfpt-names.h — every name vfpt shares with the kernel, systemd and D-Bus,
 * kept in one place so that a typo cannot hide in a single call site. */
#pragma once

/* Configuration drop-in directories, highest precedence first. */
#define VFPT_CONFIG_DIRS "/etc/vfpt.d", "/run/vfpt.d", "/usr/local/lib/vfpt.d", "/usr/lib/vfpt.d"
#define VFPT_CONFIG_SUFFIX ".conf"

/* Where the original driver of each claimed device is remembered. */
#define VFPT_RECORDS_DIR "/run/vfptd/devices"

#define VFPT_SYSFS_ROOT "/sys"
#define VFPT_VFIO_DIR "/dev/vfio"
#define VFPT_PROC_ROOT "/proc"

/* Paths relative to the sysfs root. */
#define VFPT_SYSFS_PCI_DEVICES "bus/pci/devices"
#define VFPT_SYSFS_PCI_DRIVERS "bus/pci/drivers"
#define VFPT_SYSFS_PCI_DRIVERS_PROBE "bus/pci/drivers_probe"
#define VFPT_SYSFS_IOMMU_GROUPS "kernel/iommu_groups"
#define VFPT_SYSFS_CLASS_BLOCK "class/block"
#define VFPT_SYSFS_CLASS_NET "class/net"
#define VFPT_SYSFS_CLASS_VTCONSOLE "class/vtconsole"
#define VFPT_SYSFS_DEV_BLOCK "dev/block"

/* Attributes of a PCI device directory. */
#define VFPT_ATTR_VENDOR "vendor"
#define VFPT_ATTR_DEVICE "device"
#define VFPT_ATTR_SUBSYSTEM_VENDOR "subsystem_vendor"
#define VFPT_ATTR_SUBSYSTEM_DEVICE "subsystem_device"
#define VFPT_ATTR_CLASS "class"
#define VFPT_ATTR_CONFIG "config"
#define VFPT_ATTR_DRIVER "driver"
#define VFPT_ATTR_DRIVER_OVERRIDE "driver_override"
#define VFPT_ATTR_DRIVER_UNBIND "driver/unbind"
#define VFPT_ATTR_IOMMU_GROUP "iommu_group"
#define VFPT_ATTR_BOOT_VGA "boot_vga"
#define VFPT_ATTR_BIND "bind"
/* SR-IOV: on a physical function, and the VF's link to it. */
#define VFPT_ATTR_SRIOV_TOTALVFS "sriov_totalvfs"
#define VFPT_ATTR_SRIOV_NUMVFS "sriov_numvfs"
#define VFPT_ATTR_SRIOV_DRIVERS_AUTOPROBE "sriov_drivers_autoprobe"
#define VFPT_ATTR_PHYSFN "physfn"
/* Space-separated reset methods the kernel will use, in order; "default"
 * restores all it offers. */
#define VFPT_ATTR_RESET_METHOD "reset_method"
#define VFPT_RESET_METHOD_DEFAULT "default"

/* PCI config space: header type byte, low 7 bits; 1 = PCI bridge, 2 = CardBus. */
#define VFPT_PCI_HEADER_TYPE_OFFSET 0x0e
#define VFPT_PCI_CLASS_STORAGE 0x01
#define VFPT_PCI_CLASS_NETWORK 0x02
#define VFPT_PCI_CLASS_DISPLAY 0x03

/* Drivers. */
#define VFPT_DRIVER_VFIO_PCI "vfio-pci"
#define VFPT_DRIVER_PCI_STUB "pci-stub"
#define VFPT_DRIVER_PCIEPORT "pcieport"
#define VFPT_MODULE_VFIO_PCI "vfio-pci"
#define VFPT_MODULE_VFIO_IOMMU_TYPE1 "vfio_iommu_type1"
#define VFPT_MODULE_PCI_STUB "pci-stub"

/* Config keys. */
#define VFPT_KEY_IDS "ids"
#define VFPT_KEY_ADDRESSES "addresses"
#define VFPT_KEY_DRIVER "driver"
#define VFPT_KEY_GROUP "group"
#define VFPT_KEY_FORCE "force"
#define VFPT_KEY_SRIOV_NUMVFS "sriov_numvfs"
/* Device preparation (vfpt-devprep.h). */
#define VFPT_KEY_RESET_METHOD "reset_method"
#define VFPT_KEY_OWNER "owner"
#define VFPT_KEY_MODE "mode"
/* Under the records directory: per device, the reset methods the kernel
 * offered before vfpt narrowed them (so "default" goes back on release). */
#define VFPT_RESET_RECORDS_SUBDIR "reset_method"
