/* manager.h — the daemon's state and its one reconcile path, which start-up,
 * uevents and reload (and later D-Bus calls) all go through.
 *
 * Reconciling touches sysfs, and a sysfs write can block in the kernel (an
 * unbind waits for the device lock). So it runs on a worker thread: the event
 * loop only asks for a reconcile and takes the result, and it keeps answering
 * the watchdog whatever the kernel does. Requests that arrive while the worker
 * runs fold into one more run. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-event.h>
#include <systemd/sd-hwdb.h>

#include "vfpt-backoff.h"
#include "vfpt-config.h"
#include "vfpt-guard.h"
#include "vfpt-plan.h"
#include "vfpt-sysfs.h"

/* A configuration shared between the event loop and the worker. */
typedef struct Config {
        unsigned n_ref;
        VfptConfig *config;
} Config;

/* What one reconcile saw and did. The plan points into config's rules. */
typedef struct State {
        Config *config;
        VfptSnapshot *snapshot;
        VfptPlan *plan;
        unsigned generation; /* of the request it answered */
        uint64_t retry_usec; /* a failed group is due another try then (0: none) */
} State;

typedef struct Manager Manager;

/* Called on the event loop whenever what the daemon reports may have changed:
 * a new State was taken, or a reload began or was rejected (D-Bus hook). */
typedef void (*ManagerChangedFn)(Manager *m, void *userdata);

struct Manager {
        char **config_dirs;     /* NULL: the default drop-in directories;
                                 * manager_resolve_config_dirs() fills it */
        char *runtime_dir;      /* where runtime claims go (/run/vfpt.d); also read.
                                 * NULL: none (--config-dir without --runtime-dir) */
        bool runtime_dir_set;   /* given with --runtime-dir */
        char *persistent_dir;   /* where `vfptctl claim --persist` goes: the first config dir */
        char **config_errors;   /* messages of the last load, even a rejected one */
        char *sysfs_root;
        char *proc_root;
        char *vfio_dir;
        char *records_dir;
        bool dry_run;
        bool udev_events;       /* listen to udev's events instead of the kernel's */

        VfptSysfs *sysfs;       /* used by the worker only, once it runs */
        sd_hwdb *hwdb;          /* NULL when there is no hardware database */
        char **modules_tried;   /* worker only: drivers whose modules were loaded or tried */

        sd_event *event;
        sd_event_source *worker_source;
        sd_event_source *monitor_source;
        struct udev *udev;
        struct udev_monitor *monitor;

        /* Shared with the worker, under lock. */
        pthread_mutex_t lock;
        pthread_cond_t wake;
        pthread_t worker;
        bool worker_running;
        bool quit;
        unsigned requested;     /* generation last asked for */
        unsigned started;       /* generation the worker last took */
        Config *config;         /* the configuration in force */
        State *published;       /* the worker's newest result, not yet taken */
        unsigned done;          /* generation the worker last finished, even if it failed */
        bool forget_failures;   /* a reload: try failed groups again at once */
        char **added;           /* "ADDRESS VENDOR:DEVICE" of devices just added */
        char **early;           /* overrides the arrival thread wrote ahead of the plan */
        bool iommu_seen;        /* the last snapshot had IOMMU groups */
        pthread_cond_t arrival; /* wakes the arrival thread */
        pthread_t arrival_thread;
        bool arrival_running;
        int done_fd;            /* eventfd: the worker published */

        /* Worker only. */
        VfptBackoff backoff;    /* groups whose claim failed, and when to retry */
        char **claimed;         /* addresses claimed after the last pass */
        VfptBackoff sriov_backoff; /* PFs whose VFs could not be made (manager-sriov.c) */

        /* Device preparation (devprep.h). */
        sd_event_source *vfio_source;       /* udev's events for /dev/vfio nodes */
        struct udev_monitor *vfio_monitor;
        char **devprep_errors;  /* worker only: errors of the last pass, said once */

        /* Event loop only. */
        State *state;           /* the newest result taken */
        bool ready_sent;
        sd_event_source *retry_source; /* wakes the worker for a failed group's retry */
        unsigned reload_generation; /* READY=1 is owed once this generation is done */
        ManagerChangedFn changed;   /* D-Bus: emit PropertiesChanged and answer calls */
        void *changed_userdata;
};

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);

Config *config_ref(Config *c);
Config *config_unref(Config *c);
State *state_free(State *s);

/* Makes config_dirs the list that is really read: the defaults, or the
 * --config-dir list as given (it replaces the defaults), with runtime_dir in
 * it when --runtime-dir was given (second, after the directory that plays
 * /etc's role, unless already listed); sets persistent_dir. */
int manager_resolve_config_dirs(Manager *m);

/* At start-up a bad file is skipped and the rest applies; on reload a
 * configuration with any error is rejected whole (-EINVAL) and the running
 * one stays. Errors are logged. */
int manager_load_config(Manager *m, bool reload);

/* Dry run: one reconcile that plans and changes nothing; result in m->state. */
int manager_plan_once(Manager *m);
void manager_print_plan(Manager *m, FILE *f);

/* vfptd --once: load the drivers' modules, reconcile once and act, on this
 * thread; result in m->state. Returns how many devices did not reach their
 * planned state (each logged), or -errno when the pass could not run. */
int manager_claim_once(Manager *m);

/* The daemon proper: uevent monitor, worker, first reconcile. */
int manager_start(Manager *m, sd_event *e);
/* Asks for a reconcile; returns its generation. */
unsigned manager_request(Manager *m);
/* The one reload path for SIGHUP, ExecReload= and D-Bus (Reload, Claim,
 * Release): RELOADING=1, parse the configuration whole, and ask for a
 * reconcile whose generation goes to *ret_generation (READY=1 follows it).
 * -EINVAL when the configuration was rejected (READY=1 at once). */
int manager_reload(Manager *m, unsigned *ret_generation);
/* The STATUS= line. */
char *manager_status(Manager *m);
/* "starting", "running" or "reloading", for D-Bus. */
const char *manager_daemon_state(Manager *m);
/* A device's ID_VENDOR_FROM_DATABASE or ID_MODEL_FROM_DATABASE, or NULL
 * (also when hwdb is NULL). */
const char *hwdb_lookup(sd_hwdb *hwdb, const VfptDevice *d, const char *key);

/* manager-sriov.c: the SR-IOV phase of a pass (worker only). Makes the VFs
 * that SR-IOV rules ask for and, when it wrote anything, reads *snap again;
 * *ret_notes gets what failed or was refused, for manager_sriov_mark(). */
int manager_sriov_prepare(Manager *m, const VfptConfig *c, VfptSnapshot **snap, char ***ret_notes);
/* Marks the PFs of the notes failed or refused in the plan, with the reason. */
void manager_sriov_mark(VfptPlan *plan, const VfptSnapshot *snap, char **notes);
/* When a PF whose VFs could not be made is due another try (0: none). */
uint64_t manager_sriov_next_retry(Manager *m);
/* For the dry run: what a PF entry will get, or has. */
void manager_sriov_print(FILE *f, const VfptPlanDevice *pd, const VfptDevice *d, const VfptSnapshot *snap);
