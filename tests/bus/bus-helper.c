/* bus-helper — the two things the bus test needs beyond busctl and vfptctl:
 *
 *   bus-helper call-as UID METHOD [ADDRESS]
 *       In a child that dropped to UID (and gid UID, no supplementary
 *       groups), call org.vfpt1.Manager.METHOD on the system bus
 *       (DBUS_SYSTEM_BUS_ADDRESS). Prints "ok" or the D-Bus error name and
 *       message; exits 0 on success, 1 on an error reply, 2 on setup errors.
 *
 *   bus-helper monitor
 *       Prints one line per signal under /org/vfpt1 until killed, after a
 *       first line "ready" once the match is in place:
 *         PropertiesChanged PATH INTERFACE NAME=VALUE... [invalidated NAME...]
 *         InterfacesAdded PATH INTERFACE...
 *         InterfacesRemoved PATH INTERFACE...
 */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

static int call_as(uid_t uid, const char *method, const char *address) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus *bus = NULL;
        int r;

        if (setgroups(0, NULL) < 0 || setgid((gid_t) uid) < 0 || setuid(uid) < 0) {
                fprintf(stderr, "bus-helper: cannot become uid %u: %s\n", (unsigned) uid, strerror(errno));
                return 2;
        }
        if (geteuid() != uid) {
                fprintf(stderr, "bus-helper: still euid %u\n", (unsigned) geteuid());
                return 2;
        }
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "bus-helper: cannot connect as uid %u: %s\n", (unsigned) uid, strerror(-r));
                return 2;
        }
        if (address)
                r = sd_bus_call_method(bus, "org.vfpt1", "/org/vfpt1", "org.vfpt1.Manager", method, &error, &reply,
                                       "s", address);
        else
                r = sd_bus_call_method(bus, "org.vfpt1", "/org/vfpt1", "org.vfpt1.Manager", method, &error, &reply,
                                       NULL);
        if (r < 0)
                printf("%s %s\n", error.name ? error.name : "(no name)", error.message ? error.message : strerror(-r));
        else
                printf("ok\n");
        fflush(stdout); /* the child leaves with _exit() */
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return r < 0 ? 1 : 0;
}

static void print_value(sd_bus_message *m) {
        const char *contents = NULL;
        char type = 0;

        if (sd_bus_message_peek_type(m, &type, &contents) <= 0 || type != 'v') {
                sd_bus_message_skip(m, NULL);
                return;
        }
        if (sd_bus_message_enter_container(m, 'v', contents) < 0)
                return;
        switch (contents[0]) {
        case 's':
        case 'o': {
                const char *s;
                if (sd_bus_message_read_basic(m, contents[0], &s) >= 0)
                        printf("\"%s\"", s);
                break;
        }
        case 'b': {
                int b;
                if (sd_bus_message_read_basic(m, 'b', &b) >= 0)
                        printf("%s", b ? "true" : "false");
                break;
        }
        case 'u': {
                uint32_t u;
                if (sd_bus_message_read_basic(m, 'u', &u) >= 0)
                        printf("%u", u);
                break;
        }
        case 'i': {
                int32_t i;
                if (sd_bus_message_read_basic(m, 'i', &i) >= 0)
                        printf("%d", i);
                break;
        }
        case 'q': {
                uint16_t q;
                if (sd_bus_message_read_basic(m, 'q', &q) >= 0)
                        printf("%u", q);
                break;
        }
        default:
                printf("(%s)", contents);
                sd_bus_message_skip(m, contents);
        }
        sd_bus_message_exit_container(m);
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *member = sd_bus_message_get_member(m), *path = sd_bus_message_get_path(m);
        const char *s;

        if (!member || !path)
                return 0;
        if (strcmp(member, "PropertiesChanged") == 0) {
                if (sd_bus_message_read(m, "s", &s) < 0)
                        return 0;
                printf("PropertiesChanged %s %s", path, s);
                if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                        return 0;
                while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                        if (sd_bus_message_read(m, "s", &s) < 0)
                                break;
                        printf(" %s=", s);
                        print_value(m);
                        sd_bus_message_exit_container(m);
                }
                sd_bus_message_exit_container(m);
                if (sd_bus_message_enter_container(m, 'a', "s") >= 0) {
                        bool first = true;
                        while (sd_bus_message_read(m, "s", &s) > 0) {
                                printf("%s%s", first ? " invalidated " : " ", s);
                                first = false;
                        }
                }
        } else if (strcmp(member, "InterfacesAdded") == 0 || strcmp(member, "InterfacesRemoved") == 0) {
                const char *object;
                bool added = strcmp(member, "InterfacesAdded") == 0;

                if (sd_bus_message_read(m, "o", &object) < 0)
                        return 0;
                printf("%s %s", member, object);
                if (added) {
                        if (sd_bus_message_enter_container(m, 'a', "{sa{sv}}") < 0)
                                return 0;
                        while (sd_bus_message_enter_container(m, 'e', "sa{sv}") > 0) {
                                if (sd_bus_message_read(m, "s", &s) < 0)
                                        break;
                                printf(" %s", s);
                                sd_bus_message_skip(m, "a{sv}");
                                sd_bus_message_exit_container(m);
                        }
                } else {
                        if (sd_bus_message_enter_container(m, 'a', "s") < 0)
                                return 0;
                        while (sd_bus_message_read(m, "s", &s) > 0)
                                printf(" %s", s);
                }
        } else
                printf("%s %s", member, path);
        putchar('\n');
        fflush(stdout);
        return 0;
}

static int monitor(void) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "bus-helper: cannot connect: %s\n", strerror(-r));
                return 2;
        }
        r = sd_bus_add_match(bus, NULL, "type='signal',path_namespace='/org/vfpt1'", on_signal, NULL);
        if (r < 0) {
                fprintf(stderr, "bus-helper: cannot add a match: %s\n", strerror(-r));
                return 2;
        }
        printf("ready\n");
        fflush(stdout);
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "bus-helper: %s\n", strerror(-r));
                        return 2;
                }
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0) {
                        fprintf(stderr, "bus-helper: %s\n", strerror(-r));
                        return 2;
                }
        }
}

int main(int argc, char *argv[]) {
        if (argc >= 4 && argc <= 5 && strcmp(argv[1], "call-as") == 0) {
                uid_t uid = (uid_t) strtoul(argv[2], NULL, 10);
                pid_t pid = fork();
                int status;

                if (pid < 0)
                        return 2;
                if (pid == 0)
                        _exit(call_as(uid, argv[3], argc == 5 ? argv[4] : NULL));
                if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
                        return 2;
                return WEXITSTATUS(status);
        }
        if (argc == 2 && strcmp(argv[1], "monitor") == 0)
                return monitor();
        fprintf(stderr, "usage: bus-helper call-as UID METHOD [ADDRESS] | bus-helper monitor\n");
        return 2;
}
