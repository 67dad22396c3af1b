/* bus-names.h — the names vfptd and vfptctl share over D-Bus, and the files
 * that hold runtime and vfptctl-written claims. They belong with the other
 * names in lib/vfpt-names.h; they live here until that header takes them. */
#pragma once

/* Where `vfptctl claim` puts its rules: gone at reboot, kept across a restart
 * of the daemon. Read as a configuration directory like the others. */
#define VFPT_RUNTIME_CONFIG_DIR "/run/vfpt.d"
/* The file in the runtime directory; rules "runtime-ADDRESS". */
#define VFPT_RUNTIME_FILE "90-vfptctl-runtime.conf"
#define VFPT_RUNTIME_RULE_PREFIX "runtime-"
/* `vfptctl claim --persist`: a file in the first configuration directory
 * (/etc/vfpt.d), named so that it sorts before the runtime file and does not
 * hide it; rules "vfptctl-ADDRESS". */
#define VFPT_PERSISTENT_FILE "80-vfptctl.conf"
#define VFPT_PERSISTENT_RULE_PREFIX "vfptctl-"

#define VFPT_BUS_NAME "org.vfpt1"
#define VFPT_BUS_PATH "/org/vfpt1"
#define VFPT_BUS_DEVICE_PATH "/org/vfpt1/device"
#define VFPT_BUS_MANAGER_INTERFACE "org.vfpt1.Manager"
#define VFPT_BUS_DEVICE_INTERFACE "org.vfpt1.Device"

/* ListDevices() returns one struct per device, in plan order, with the
 * Device object's properties: (object path, Address, VendorId, DeviceId,
 * Vendor, Name, IommuGroup (-1: none), Driver, TargetDriver, State, Rule,
 * RuleFile, Reason, ResetMethod, NodeOwner); "" where there is nothing to say. */
#define VFPT_BUS_DEVICE_STRUCT "osqqssissssssss"

#define VFPT_BUS_ERROR_NOT_FOUND "org.vfpt1.Error.NotFound"
#define VFPT_BUS_ERROR_IN_USE "org.vfpt1.Error.InUse"
#define VFPT_BUS_ERROR_REFUSED "org.vfpt1.Error.Refused"
#define VFPT_BUS_ERROR_NO_IOMMU "org.vfpt1.Error.NoIommu"
#define VFPT_BUS_ERROR_INVALID_ADDRESS "org.vfpt1.Error.InvalidAddress"
#define VFPT_BUS_ERROR_CONFIGURED "org.vfpt1.Error.Configured"
#define VFPT_BUS_ERROR_INVALID_CONFIG "org.vfpt1.Error.InvalidConfig"
#define VFPT_BUS_ERROR_ACCESS_DENIED "org.vfpt1.Error.AccessDenied"
#define VFPT_BUS_ERROR_FAILED "org.vfpt1.Error.Failed"
