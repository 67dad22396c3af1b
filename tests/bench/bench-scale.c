/* bench-scale — how the reconciler's cost grows with the number of devices:
 * coldplug of N listed devices (each bound to its host driver, each in its
 * own IOMMU group) on a fake sysfs tree with the in-process fake kernel, as
 * tests/component/test-claim.c does, timed phase by phase, then a second
 * pass (what every later uevent costs: the same snapshot, guards and plan,
 * and no step).
 *
 *   bench-scale N [--markers]
 *
 * Prints one line of key=value figures (times in microseconds). The time the
 * fake kernel spends inside the write hook is measured apart and taken out
 * of "exec_lib", so that the library's own cost is not confused with the
 * test double's. With --markers, access("@bench:...") calls mark the phases
 * and the hook, so that a run under `strace -f -o FILE` can be cut into
 * phases and the fake kernel's own system calls left out (tests/bench/run.sh
 * does that). Never touches this machine's /sys: the tree is under $TMPDIR. */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fake-sysfs.h"
#include "vfpt-config.h"
#include "vfpt-exec.h"
#include "vfpt-guard.h"
#include "vfpt-plan.h"
#include "vfpt-sysfs.h"
#include "vfpt-util.h"

static bool markers;
static uint64_t hook_ns;
static unsigned hook_calls;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* A system call that strace shows with its argument and that does nothing. */
static void mark(const char *what) {
        char p[128];

        if (!markers)
                return;
        snprintf(p, sizeof(p), "@bench:%s", what);
        (void) access(p, F_OK);
}

static int timed_hook(void *userdata, const char *path, const char *value) {
        uint64_t t0;
        int r;

        mark("hook<");
        t0 = now_ns();
        r = fake_kernel_hook(userdata, path, value);
        hook_ns += now_ns() - t0;
        hook_calls++;
        mark("hook>");
        return r;
}

static long vm_hwm_kib(void) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        long v = -1;

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
                        break;
        fclose(f);
        return v;
}

static void die(const char *what, int r) {
        fprintf(stderr, "bench-scale: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(EXIT_FAILURE);
}

typedef struct Pass {
        uint64_t snapshot, records, guards, plan, exec, hook;
        size_t steps, groups, heap;
} Pass;

static void reconcile(VfptSysfs *s, const VfptConfig *config, const char *records, const char *proc, bool act,
                      Pass *p) {
        VfptGuardSources src = { .proc_root = proc, .use_getifaddrs = false };
        VfptSnapshot *snap = NULL;
        VfptPlan *plan = NULL;
        size_t heap0 = mallinfo2().uordblks;
        uint64_t t;
        int r;

        *p = (Pass) {};
        mark("snapshot");
        t = now_ns();
        r = vfpt_snapshot_read(&snap, s);
        if (r < 0)
                die("snapshot", r);
        p->snapshot = now_ns() - t;
        mark("records");
        t = now_ns();
        if (act && (r = vfpt_records_prune(records, snap, NULL)) < 0)
                die("records_prune", r);
        r = vfpt_snapshot_read_records(snap, records);
        if (r < 0)
                die("read_records", r);
        p->records = now_ns() - t;
        mark("guards");
        t = now_ns();
        r = vfpt_guard_scan(snap, s, &src);
        if (r < 0)
                die("guards", r);
        p->guards = now_ns() - t;
        mark("plan");
        t = now_ns();
        r = vfpt_plan_build(&plan, config, snap);
        if (r < 0)
                die("plan", r);
        p->plan = now_ns() - t;
        p->heap = mallinfo2().uordblks - heap0;
        mark("exec");
        hook_ns = 0;
        t = now_ns();
        for (size_t i = 0; act && i < plan->n_groups; i++) {
                VfptExecResult res;

                p->steps += plan->groups[i].n_steps;
                if (plan->groups[i].n_steps)
                        p->groups++;
                r = vfpt_exec_group(s, snap, &plan->groups[i], records, &res);
                if (r < 0) {
                        fprintf(stderr, "bench-scale: group %d: %s\n", plan->groups[i].group, res.message);
                        exit(EXIT_FAILURE);
                }
                vfpt_exec_result_clear(&res);
        }
        p->exec = now_ns() - t;
        p->hook = hook_ns;
        mark("end");
        plan = vfpt_plan_free(plan);
        snap = vfpt_snapshot_free(snap);
}

int main(int argc, char **argv) {
        FakeSysfs *f;
        VfptSysfs *s = NULL;
        VfptConfig *config = NULL;
        _cleanup_free_ char *tmp = NULL, *records = NULL, *proc = NULL;
        struct rusage ru;
        unsigned n, bound = 0;
        long hwm_before;
        uint64_t t;
        Pass cold, warm;
        int r;

        if (argc < 2 || (n = (unsigned) strtoul(argv[1], NULL, 10)) == 0 || n > 8192) {
                fprintf(stderr, "usage: bench-scale N [--markers]   (1 <= N <= 8192)\n");
                return 2;
        }
        markers = argc > 2 && streq(argv[2], "--markers");

        fake_run_begin();
        t = now_ns();
        f = fake_sysfs_new(true);
        fake_sysfs_add_driver(f, "vfio-pci");
        for (unsigned i = 0; i < n; i++) {
                char addr[16];

                /* 256 functions a bus (32 slots x 8 functions), one group each. */
                snprintf(addr, sizeof(addr), "0000:%02x:%02x.%u", 1 + i / 256, (i / 8) % 32, i % 8);
                fake_sysfs_add_device(f, &(FakeDevice) {
                        .address = addr, .vendor = 0x8086, .device = 0x10d3, .subsystem_vendor = 0x8086,
                        .subsystem_device = 0xa01f, .class = 0x020000, .group = (int) i + 1,
                        .driver = "e1000e" });
        }
        fprintf(stderr, "bench-scale: tree of %u devices built in %.1f ms\n", n, (double) (now_ns() - t) / 1e6);

        tmp = fake_tempdir("bench");
        records = strdup_printf("%s/records", tmp);
        proc = strdup_printf("%s/proc", tmp);
        fake_write_file(tmp, "proc/self/mountinfo", "");
        fake_write_file(tmp, "proc/mounts", "");
        fake_write_file(tmp, "proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");

        r = vfpt_config_load_string(&config, "bench.conf", "[nics]\nids = 8086:10d3\n");
        if (r < 0 || config->n_errors)
                die("config", r < 0 ? r : -EINVAL);
        r = vfpt_sysfs_open(&s, fake_sysfs_root(f));
        if (r < 0)
                die("sysfs_open", r);
        vfpt_sysfs_set_kernel_hook(s, timed_hook, f);

        hwm_before = vm_hwm_kib();
        reconcile(s, config, records, proc, true, &cold);
        reconcile(s, config, records, proc, true, &warm);

        for (unsigned i = 0; i < n; i++) {
                char addr[16];
                _cleanup_free_ char *drv = NULL;

                snprintf(addr, sizeof(addr), "0000:%02x:%02x.%u", 1 + i / 256, (i / 8) % 32, i % 8);
                drv = fake_sysfs_driver_of(f, addr);
                bound += drv && streq(drv, "vfio-pci");
        }
        if (bound != n || warm.steps != 0) {
                fprintf(stderr, "bench-scale: %u of %u bound to vfio-pci, %zu steps on the second pass\n", bound, n,
                        warm.steps);
                return EXIT_FAILURE;
        }
        getrusage(RUSAGE_SELF, &ru);

#define US(x) ((double) (x) / 1e3)
        printf("n=%u groups=%zu steps=%zu hook_calls=%u"
               " snapshot_us=%.0f records_us=%.0f guards_us=%.0f plan_us=%.0f exec_us=%.0f hook_us=%.0f"
               " exec_lib_us=%.0f total_lib_us=%.0f"
               " pass2_us=%.0f pass2_snapshot_us=%.0f pass2_guards_us=%.0f pass2_plan_us=%.0f"
               " heap_kib=%zu maxrss_kib=%ld hwm_before_kib=%ld\n",
               n, cold.groups, cold.steps, hook_calls, US(cold.snapshot), US(cold.records), US(cold.guards),
               US(cold.plan), US(cold.exec), US(cold.hook), US(cold.exec - cold.hook),
               US(cold.snapshot + cold.records + cold.guards + cold.plan + cold.exec - cold.hook),
               US(warm.snapshot + warm.records + warm.guards + warm.plan + warm.exec), US(warm.snapshot),
               US(warm.guards), US(warm.plan), cold.heap / 1024, ru.ru_maxrss, hwm_before);

        config = vfpt_config_free(config);
        s = vfpt_sysfs_free(s);
        fake_rm_rf(tmp);
        f = fake_sysfs_free(f);
        fake_run_end();
        return EXIT_SUCCESS;
}
