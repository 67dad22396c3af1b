/* vfpt-config.h — the rules an administrator writes in vfpt.d(5) drop-ins:
 * which devices go to which passthrough driver, and with what group policy.
 * Loading never stops at the first mistake: every error is collected with
 * its file:line and key, and the caller decides what to do with them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vfpt-address.h"

typedef enum VfptGroupPolicy {
        VFPT_GROUP_CLAIM,  /* claim every endpoint of the group */
        VFPT_GROUP_STRICT, /* refuse unless every endpoint is matched by a rule */
} VfptGroupPolicy;

typedef struct VfptRule {
        char *name;   /* the section name */
        char *file;   /* where it was defined */
        unsigned line;
        VfptIdPattern *ids;
        size_t n_ids;
        VfptAddressPattern *addresses;
        size_t n_addresses;
        char *driver; /* vfio-pci unless set */
        VfptGroupPolicy group;
        bool force;   /* skip the in-use guards */
        /* SR-IOV (sriov_numvfs = N): the rule matches physical functions,
         * makes N virtual functions on each and claims the VFs, never the PF.
         * 0: not an SR-IOV rule. */
        unsigned sriov_numvfs;
        unsigned sriov_line;  /* line of the sriov_numvfs key */
        /* Device preparation (vfpt-devprep.h); each unset unless given. */
        char *reset_method; /* methods, single spaces between, in order */
        char *owner;        /* as written, "USER[:GROUP]"; NULL: unset */
        uid_t owner_uid;
        gid_t owner_gid;    /* (gid_t) -1: the node's group stays */
        bool has_mode;
        mode_t mode;        /* permission bits of /dev/vfio/N */
} VfptRule;

typedef struct VfptConfigError {
        char *file;
        unsigned line; /* 0 when the error is about the whole file */
        char *key;     /* NULL when not about one key */
        char *message; /* complete, e.g. "a.conf:3: key 'ids': expected ..." */
} VfptConfigError;

typedef struct VfptConfig {
        VfptRule *rules; /* in file order, files in lexical order of name */
        size_t n_rules;
        char **files;    /* the files that were read, after masking */
        VfptConfigError *errors;
        size_t n_errors;
} VfptConfig;

/* Reads every *.conf in dirs (NULL-terminated, highest precedence first;
 * NULL for the defaults). A file with any error contributes no rules, the
 * others still do. Returns 0 with errors recorded, or -errno when it could
 * not run at all (out of memory). Missing directories are fine. */
int vfpt_config_load(VfptConfig **ret, const char *const *dirs);
/* Parses one file's text as if it were named file; for tests and fuzzing. */
int vfpt_config_load_string(VfptConfig **ret, const char *file, const char *text);
VfptConfig *vfpt_config_free(VfptConfig *c);

const char *vfpt_group_policy_to_string(VfptGroupPolicy p);
/* True for vfio-pci, pci-stub, and vfio variant drivers (*vfio_pci, *vfio-pci). */
bool vfpt_driver_name_valid(const char *name);

bool vfpt_rule_match(const VfptRule *r, const VfptAddress *address, unsigned vendor, unsigned device);
