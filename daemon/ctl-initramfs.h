/* ctl-initramfs.h — is the initramfs claim (initramfs/hook-vfpt) in step
 * with the configuration?
 *
 * The hook, run by update-initramfs for kernel KVER, packs the persistent
 * drop-ins (`vfptd --list-config-files`) into the initramfs and keeps a copy
 * of exactly those files in STATE_DIR/KVER/; when the claim is disabled it
 * removes that directory. So comparing the copy with the drop-ins in force
 * now says whether an initramfs is out of date, and which file made it so.
 * The dracut module (dracut/module-setup.sh) keeps the same copy, and dracut
 * on Debian writes the same /boot/initrd.img-KVER. */
#pragma once

#define CTL_INITRAMFS_CONF "/etc/vfpt/initramfs.conf"
#define CTL_INITRAMFS_STATE_DIR "/var/lib/vfpt/initramfs"
#define CTL_INITRAMFS_BOOT_DIR "/boot"
#define CTL_INITRAMFS_UPDATE_INITRAMFS "/usr/sbin/update-initramfs"
#define CTL_INITRAMFS_DRACUT "/usr/bin/dracut"

typedef struct CtlInitramfsPaths {
        const char *conf;        /* VFPT_INITRAMFS=yes|no, shell syntax */
        const char *state_dir;   /* the hook's copies, one directory per kernel */
        const char *boot_dir;    /* where initrd.img-KVER live */
        char **config_dirs;      /* the persistent drop-in directories, highest precedence first */
        /* Which tool makes the initramfs, for the command *ret_fix names:
         * dracut's when dracut is there and update-initramfs is not (they
         * conflict on Debian); update-initramfs's otherwise, and when both
         * are NULL. */
        const char *update_initramfs;
        const char *dracut;
} CtlInitramfsPaths;

typedef enum CtlInitramfsState {
        CTL_INITRAMFS_UNUSED,    /* disabled, and no initramfs claims */
        CTL_INITRAMFS_CURRENT,   /* enabled, every initramfs made from the drop-ins in force */
        CTL_INITRAMFS_STALE,     /* an initramfs does not match the configuration */
} CtlInitramfsState;

/* Fills *ret_detail (what is the case, naming kernels and files) and
 * *ret_fix (what to run; NULL when nothing). -errno only on out of memory. */
int ctl_initramfs_state(const CtlInitramfsPaths *p, CtlInitramfsState *ret, char **ret_detail, char **ret_fix);

/* The same for this system: the paths above and the default drop-in
 * directories without the runtime one. */
int ctl_initramfs_system_state(CtlInitramfsState *ret, char **ret_detail, char **ret_fix);

/* Whether conf turns the claim on: a line VFPT_INITRAMFS=yes (or y, true,
 * 1; the value may be quoted). 0 when the file is missing. */
int ctl_initramfs_enabled(const char *conf);
