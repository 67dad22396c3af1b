/* manager.h — the daemon's state: configuration, the last snapshot and plan,
 * and the one reconcile path that start-up and reload (and later uevents and
 * D-Bus calls) all go through. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-hwdb.h>

#include "vfpt-config.h"
#include "vfpt-guard.h"
#include "vfpt-plan.h"
#include "vfpt-sysfs.h"

typedef struct Manager {
        char **config_dirs;     /* NULL: the default drop-in directories */
        char *sysfs_root;
        char *proc_root;
        char *records_dir;
        bool dry_run;

        VfptConfig *config;
        VfptSysfs *sysfs;
        VfptSnapshot *snapshot;
        VfptPlan *plan;
        sd_hwdb *hwdb;          /* NULL when there is no hardware database */
        bool modules_loaded;
} Manager;

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);

/* At start-up a bad file is skipped and the rest applies; on reload a
 * configuration with any error is rejected whole (-EINVAL) and the running
 * one stays. Errors are logged. */
int manager_load_config(Manager *m, bool reload);
/* Reads sysfs, plans, and (unless dry-run) claims. Returns <0 only when it
 * could not run at all; per-group failures are in the plan. */
int manager_reconcile(Manager *m);
void manager_print_plan(Manager *m, FILE *f);
/* The STATUS= line. */
char *manager_status(Manager *m);
