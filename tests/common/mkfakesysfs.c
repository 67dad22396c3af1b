/* mkfakesysfs — build a fake sysfs tree (see fake-sysfs.h) in a directory
 * from a small spec, for the dry-run tests and for trying vfptd by hand:
 *
 *   mkfakesysfs DIR [SPEC]        (SPEC defaults to standard input)
 *
 * One item per line; '#' starts a comment:
 *
 *   iommu off                      (before any device; default on)
 *   driver NAME                    (a loaded driver with no devices yet)
 *   device ADDR [vendor=HEX] [device=HEX] [subvendor=HEX] [subdevice=HEX]
 *               [class=HEX] [group=N] [driver=NAME] [host=NAME]
 *               [override=NAME] [parent=ADDR] [bridge] [boot_vga]
 *   block ADDR NAME MAJOR:MINOR    (a disk below a storage controller)
 *   partition DISK NAME MAJOR:MINOR
 *   net ADDR IFNAME OPERSTATE
 *   vtconsole N 0|1 NAME...
 *   framebuffer ADDR N
 *
 * A parent must come before its children. The tree gets the model file that
 * fake-kernel-preload.so needs (see fake-sysfs.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-sysfs.h"
#include "vfpt-util.h"

static unsigned long parse_hex(const char *s, const char *what, unsigned lineno, unsigned long max) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 16);
        if (errno || end == s || *end || v > max) {
                fprintf(stderr, "mkfakesysfs: line %u: bad %s '%s'\n", lineno, what, s);
                exit(EXIT_FAILURE);
        }
        return v;
}

static void parse_devt(const char *s, unsigned *major, unsigned *minor, unsigned lineno) {
        int n = -1;

        if (sscanf(s, "%u:%u%n", major, minor, &n) != 2 || s[n]) {
                fprintf(stderr, "mkfakesysfs: line %u: bad MAJOR:MINOR '%s'\n", lineno, s);
                exit(EXIT_FAILURE);
        }
}

static void usage_error(unsigned lineno, const char *msg) {
        fprintf(stderr, "mkfakesysfs: line %u: %s\n", lineno, msg);
        exit(EXIT_FAILURE);
}

int main(int argc, char **argv) {
        FakeSysfs *f = NULL;
        FILE *in = stdin;
        bool iommu = true;
        char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;

        if (argc < 2 || argc > 3 || streq(argv[1], "--help")) {
                fprintf(stderr, "usage: %s DIR [SPEC]\n", argv[0]);
                return argc == 2 ? EXIT_SUCCESS : EXIT_FAILURE;
        }
        if (argc == 3 && !streq(argv[2], "-")) {
                in = fopen(argv[2], "re");
                if (!in) {
                        fprintf(stderr, "mkfakesysfs: %s: %m\n", argv[2]);
                        return EXIT_FAILURE;
                }
        }

        while (getline(&line, &cap, in) >= 0) {
                char *tok[32];
                size_t n = 0;
                char *save = NULL, *c;

                lineno++;
                if ((c = strchr(line, '#')))
                        *c = '\0';
                for (char *t = strtok_r(line, " \t\r\n", &save); t && n < ELEMENTSOF(tok);
                     t = strtok_r(NULL, " \t\r\n", &save))
                        tok[n++] = t;
                if (n == 0)
                        continue;

                if (streq(tok[0], "iommu")) {
                        if (f)
                                usage_error(lineno, "'iommu' must come before everything else");
                        if (n != 2 || !(streq(tok[1], "on") || streq(tok[1], "off")))
                                usage_error(lineno, "expected 'iommu on' or 'iommu off'");
                        iommu = streq(tok[1], "on");
                        continue;
                }
                if (!f)
                        f = fake_sysfs_new_at(argv[1], iommu);

                if (streq(tok[0], "driver")) {
                        if (n != 2)
                                usage_error(lineno, "expected 'driver NAME'");
                        fake_sysfs_add_driver(f, tok[1]);
                } else if (streq(tok[0], "device")) {
                        FakeDevice d = { .group = -1 };

                        if (n < 2)
                                usage_error(lineno, "expected 'device ADDR ...'");
                        d.address = tok[1];
                        for (size_t i = 2; i < n; i++) {
                                char *eq = strchr(tok[i], '=');
                                const char *k = tok[i], *v = eq ? eq + 1 : NULL;

                                if (eq)
                                        *eq = '\0';
                                if (!v && streq(k, "bridge"))
                                        d.bridge = true;
                                else if (!v && streq(k, "boot_vga"))
                                        d.boot_vga = true;
                                else if (!v)
                                        usage_error(lineno, "expected KEY=VALUE, 'bridge' or 'boot_vga'");
                                else if (streq(k, "vendor"))
                                        d.vendor = (uint16_t) parse_hex(v, k, lineno, 0xffff);
                                else if (streq(k, "device"))
                                        d.device = (uint16_t) parse_hex(v, k, lineno, 0xffff);
                                else if (streq(k, "subvendor"))
                                        d.subsystem_vendor = (uint16_t) parse_hex(v, k, lineno, 0xffff);
                                else if (streq(k, "subdevice"))
                                        d.subsystem_device = (uint16_t) parse_hex(v, k, lineno, 0xffff);
                                else if (streq(k, "class"))
                                        d.class = (uint32_t) parse_hex(v, k, lineno, 0xffffff);
                                else if (streq(k, "group"))
                                        d.group = atoi(v);
                                else if (streq(k, "driver"))
                                        d.driver = v;
                                else if (streq(k, "host"))
                                        d.host_driver = v;
                                else if (streq(k, "override"))
                                        d.driver_override = v;
                                else if (streq(k, "parent"))
                                        d.parent = v;
                                else
                                        usage_error(lineno, "unknown device key");
                        }
                        fake_sysfs_add_device(f, &d);
                } else if (streq(tok[0], "block") || streq(tok[0], "partition")) {
                        unsigned major, minor;

                        if (n != 4)
                                usage_error(lineno, "expected 'block ADDR NAME MAJOR:MINOR' or 'partition DISK NAME MAJOR:MINOR'");
                        parse_devt(tok[3], &major, &minor, lineno);
                        if (streq(tok[0], "block"))
                                fake_sysfs_add_block(f, tok[1], tok[2], major, minor);
                        else
                                fake_sysfs_add_partition(f, tok[1], tok[2], major, minor);
                } else if (streq(tok[0], "net")) {
                        if (n != 4)
                                usage_error(lineno, "expected 'net ADDR IFNAME OPERSTATE'");
                        fake_sysfs_add_net(f, tok[1], tok[2], tok[3]);
                } else if (streq(tok[0], "vtconsole")) {
                        char name[256] = "";

                        if (n < 4)
                                usage_error(lineno, "expected 'vtconsole N 0|1 NAME...'");
                        for (size_t i = 3; i < n; i++) {
                                if (i > 3)
                                        strncat(name, " ", sizeof(name) - strlen(name) - 1);
                                strncat(name, tok[i], sizeof(name) - strlen(name) - 1);
                        }
                        fake_sysfs_add_vtconsole(f, (unsigned) atoi(tok[1]), name, streq(tok[2], "1"));
                } else if (streq(tok[0], "framebuffer")) {
                        if (n != 3)
                                usage_error(lineno, "expected 'framebuffer ADDR N'");
                        fake_sysfs_add_framebuffer(f, tok[1], (unsigned) atoi(tok[2]));
                } else
                        usage_error(lineno, "unknown item");
        }
        free(line);
        if (in != stdin)
                fclose(in);
        if (!f)
                f = fake_sysfs_new_at(argv[1], iommu);
        /* So that the LD_PRELOAD fake kernel can give writes into it their meaning. */
        fake_sysfs_save_model(f);
        fake_sysfs_free(f);
        return EXIT_SUCCESS;
}
