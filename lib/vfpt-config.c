/* vfpt-config.c — vfpt.d(5) drop-ins: directory precedence and masking as
 * systemd does it, INI parsing through inih, and the rules' keys.
 *
 * inih does not tell its handler the line number, and reports only the first
 * line it could not parse. We feed it lines through our own reader, which
 * counts them, notices section headers (so an empty section is still a rule
 * we can complain about) and refuses over-long lines instead of letting them
 * be split in two. */
#include <ctype.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "vfpt-config.h"
#include "vfpt-devprep.h"
#include "vfpt-names.h"
#include "vfpt-util.h"

#define LINE_MAX_LEN 200 /* inih's INI_MAX_LINE, including the newline */

enum {
        KEY_IDS = 1 << 0,
        KEY_ADDRESSES = 1 << 1,
        KEY_DRIVER = 1 << 2,
        KEY_GROUP = 1 << 3,
        KEY_FORCE = 1 << 4,
        /* SR-IOV keys: a high bit, apart from the others. */
        KEY_SRIOV_NUMVFS = 1 << 16,
        /* Device preparation, bits kept apart from other additions. */
        KEY_RESET_METHOD = 1 << 12,
        KEY_OWNER = 1 << 13,
        KEY_MODE = 1 << 14,
};

/* The kernel parses sriov_numvfs as a u16 (kstrtou16), and TotalVFs in the
 * SR-IOV capability is a 16-bit field: nothing larger can ever work. */
#define SRIOV_NUMVFS_MAX 65535

typedef struct ParseState {
        VfptConfig *config;        /* rules and errors go here */
        const char *file;
        const char *text;          /* the string being parsed */
        size_t pos;
        unsigned line;
        bool continuation;         /* the current line starts with white space */
        VfptRule *rules;           /* this file's rules, moved on success */
        size_t n_rules;
        unsigned *keys_seen;       /* per rule, KEY_* bits */
        unsigned *key_lines;       /* line of the last key handled, per rule */
        size_t n_errors_before;
        int oom;
} ParseState;

static void rule_done(VfptRule *r) {
        free(r->name);
        free(r->file);
        free(r->ids);
        free(r->addresses);
        free(r->driver);
        free(r->reset_method);
        free(r->owner);
}

VfptConfig *vfpt_config_free(VfptConfig *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_rules; i++)
                rule_done(&c->rules[i]);
        free(c->rules);
        strv_free(c->files);
        for (size_t i = 0; i < c->n_errors; i++) {
                free(c->errors[i].file);
                free(c->errors[i].key);
                free(c->errors[i].message);
        }
        free(c->errors);
        free(c);
        return NULL;
}

static int config_add_error(VfptConfig *c, const char *file, unsigned line, const char *key,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int config_add_error(VfptConfig *c, const char *file, unsigned line, const char *key,
                            const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        VfptConfigError *e, *n;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;

        n = realloc(c->errors, (c->n_errors + 1) * sizeof(*c->errors));
        if (!n)
                return -ENOMEM;
        c->errors = n;
        e = &c->errors[c->n_errors];
        *e = (VfptConfigError) { .line = line };
        e->file = strdup(file);
        e->key = key ? strdup(key) : NULL;
        if (line > 0 && key)
                e->message = strdup_printf("%s:%u: key '%s': %s", file, line, key, what);
        else if (line > 0)
                e->message = strdup_printf("%s:%u: %s", file, line, what);
        else
                e->message = strdup_printf("%s: %s", file, what);
        c->n_errors++;
        if (!e->file || (key && !e->key) || !e->message)
                return -ENOMEM;
        return 0;
}

#define parse_error(st, key, ...)                                                        \
        do {                                                                             \
                if (config_add_error((st)->config, (st)->file, (st)->line, key, __VA_ARGS__) < 0) \
                        (st)->oom = -ENOMEM;                                             \
        } while (0)

const char *vfpt_group_policy_to_string(VfptGroupPolicy p) {
        return p == VFPT_GROUP_STRICT ? "strict" : "claim";
}

static bool endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

bool vfpt_driver_name_valid(const char *name) {
        if (!name || !*name || strlen(name) > 64)
                return false;
        for (const char *p = name; *p; p++)
                if (!isalnum((unsigned char) *p) && *p != '_' && *p != '-')
                        return false;
        return streq(name, VFPT_DRIVER_VFIO_PCI) || streq(name, VFPT_DRIVER_PCI_STUB) ||
               endswith(name, "vfio_pci") || endswith(name, "vfio-pci");
}

bool vfpt_rule_match(const VfptRule *r, const VfptAddress *address, unsigned vendor, unsigned device) {
        bool ok = r->n_ids == 0;

        for (size_t i = 0; !ok && i < r->n_ids; i++)
                ok = vfpt_id_pattern_match(&r->ids[i], (uint16_t) vendor, (uint16_t) device);
        if (!ok)
                return false;
        if (r->n_addresses == 0)
                return true;
        for (size_t i = 0; i < r->n_addresses; i++)
                if (vfpt_address_pattern_match(&r->addresses[i], address))
                        return true;
        return false;
}

static int parse_bool(const char *v, bool *ret) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(v, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/* Splits a list on white space and commas; calls one() for each word. */
static int parse_list(ParseState *st, VfptRule *rule, const char *key, const char *value, bool ids) {
        _cleanup_free_ char *copy = strdup(value);
        char *save = NULL, *w;
        size_t n = 0;

        if (!copy)
                return -ENOMEM;
        for (w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                if (ids) {
                        VfptIdPattern p, *m;
                        if (vfpt_id_pattern_parse(w, &p) < 0) {
                                parse_error(st, key, "expected vendor:device in hex like 8086:1533 or 10de:*, got '%s'", w);
                                return 0;
                        }
                        m = realloc(rule->ids, (rule->n_ids + 1) * sizeof(*m));
                        if (!m)
                                return -ENOMEM;
                        rule->ids = m;
                        rule->ids[rule->n_ids++] = p;
                } else {
                        VfptAddressPattern p, *m;
                        if (vfpt_address_pattern_parse(w, &p) < 0) {
                                parse_error(st, key, "expected a PCI address like 0000:03:00.0, 03:00.0 or 03:00.*, got '%s'", w);
                                return 0;
                        }
                        m = realloc(rule->addresses, (rule->n_addresses + 1) * sizeof(*m));
                        if (!m)
                                return -ENOMEM;
                        rule->addresses = m;
                        rule->addresses[rule->n_addresses++] = p;
                }
                n++;
        }
        if (n == 0)
                parse_error(st, key, "expected at least one %s, got an empty value",
                            ids ? "vendor:device" : "PCI address");
        return 0;
}

/* sriov_numvfs = N: a plain decimal count of virtual functions, 1..65535. */
static void parse_sriov_numvfs(ParseState *st, VfptRule *rule, const char *key, const char *value) {
        unsigned long n;
        char *end;

        if (!*value || strspn(value, "0123456789") != strlen(value)) {
                parse_error(st, key, "expected a number of virtual functions like 4, got '%s'", value);
                return;
        }
        errno = 0;
        n = strtoul(value, &end, 10);
        if (errno == ERANGE || n > SRIOV_NUMVFS_MAX) {
                parse_error(st, key, "expected at most %d virtual functions (the kernel's limit), got '%s'",
                            SRIOV_NUMVFS_MAX, value);
                return;
        }
        if (n == 0) {
                parse_error(st, key, "expected at least 1 virtual function, got 0; leave sriov_numvfs out "
                                     "for a rule that claims the device itself");
                return;
        }
        rule->sriov_numvfs = (unsigned) n;
        rule->sriov_line = st->line;
}

/* Keys that make no sense beside sriov_numvfs; checked once the rule is
 * whole. A wildcard device ID would make VFs on every SR-IOV device of the
 * vendor, the host's own NICs included. */
static int check_sriov_rule(VfptConfig *c, const char *file, const VfptRule *rule) {
        if (!rule->sriov_numvfs)
                return 0;
        for (size_t i = 0; i < rule->n_ids; i++)
                if (rule->ids[i].any_device)
                        return config_add_error(c, file, rule->sriov_line, VFPT_KEY_SRIOV_NUMVFS,
                                                "rule [%s] makes virtual functions on the devices its ids match, so "
                                                "ids must name the physical function exactly, not %04x:*",
                                                rule->name, rule->ids[i].vendor);
        return 0;
}

/* ---- device preparation keys (vfpt-devprep.h) ---- */

static unsigned devprep_key(const char *name) {
        if (streq(name, VFPT_KEY_RESET_METHOD))
                return KEY_RESET_METHOD;
        if (streq(name, VFPT_KEY_OWNER))
                return KEY_OWNER;
        if (streq(name, VFPT_KEY_MODE))
                return KEY_MODE;
        return 0;
}

static void devprep_handle(ParseState *st, VfptRule *rule, unsigned bit, const char *name, const char *value) {
        _cleanup_free_ char *error = NULL;
        int r = 0;

        switch (bit) {
        case KEY_RESET_METHOD:
                free(rule->reset_method);
                rule->reset_method = NULL;
                r = vfpt_reset_method_parse(value, &rule->reset_method, &error);
                break;
        case KEY_OWNER:
                r = vfpt_owner_parse(value, &rule->owner_uid, &rule->owner_gid, &error);
                if (r >= 0) {
                        free(rule->owner);
                        rule->owner = strdup(value);
                        if (!rule->owner)
                                r = -ENOMEM;
                }
                break;
        case KEY_MODE:
                r = vfpt_mode_parse(value, &rule->mode, &error);
                rule->has_mode = r >= 0;
                break;
        }
        if (r == -ENOMEM)
                st->oom = -ENOMEM;
        else if (r < 0)
                parse_error(st, name, "%s", strna(error));
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        ParseState *st = user;
        VfptRule *rule;
        unsigned bit;
        size_t i;

        if (st->oom)
                return 0;
        if (st->n_rules == 0 || !streq(section, st->rules[st->n_rules - 1].name)) {
                parse_error(st, name, "not inside a [rule] section");
                return 1;
        }
        i = st->n_rules - 1;
        rule = &st->rules[i];

        if (streq(name, VFPT_KEY_IDS))
                bit = KEY_IDS;
        else if (streq(name, VFPT_KEY_ADDRESSES))
                bit = KEY_ADDRESSES;
        else if (streq(name, VFPT_KEY_DRIVER))
                bit = KEY_DRIVER;
        else if (streq(name, VFPT_KEY_GROUP))
                bit = KEY_GROUP;
        else if (streq(name, VFPT_KEY_FORCE))
                bit = KEY_FORCE;
        else if (streq(name, VFPT_KEY_SRIOV_NUMVFS))
                bit = KEY_SRIOV_NUMVFS;
        else if (!(bit = devprep_key(name))) {
                parse_error(st, name, "unknown key; expected one of ids, addresses, driver, group, force, "
                            "sriov_numvfs, reset_method, owner, mode");
                return 1;
        }

        /* inih hands a continuation line to us as the same key again: for
         * lists that is more of the list, for single values it is an error. */
        if (st->keys_seen[i] & bit) {
                if (!(st->continuation && st->key_lines[i] == st->line - 1 && (bit & (KEY_IDS | KEY_ADDRESSES)))) {
                        parse_error(st, name, "given twice in rule [%s]", rule->name);
                        return 1;
                }
        }
        st->keys_seen[i] |= bit;
        st->key_lines[i] = st->line;

        switch (bit) {
        case KEY_IDS:
        case KEY_ADDRESSES:
                if (parse_list(st, rule, name, value, bit == KEY_IDS) < 0)
                        st->oom = -ENOMEM;
                break;
        case KEY_DRIVER:
                if (!vfpt_driver_name_valid(value)) {
                        parse_error(st, name, "expected vfio-pci, pci-stub or a vfio variant driver (a name ending in vfio_pci), got '%s'", value);
                        break;
                }
                free(rule->driver);
                rule->driver = strdup(value);
                if (!rule->driver)
                        st->oom = -ENOMEM;
                break;
        case KEY_GROUP:
                if (streq(value, "claim"))
                        rule->group = VFPT_GROUP_CLAIM;
                else if (streq(value, "strict"))
                        rule->group = VFPT_GROUP_STRICT;
                else
                        parse_error(st, name, "expected claim or strict, got '%s'", value);
                break;
        case KEY_FORCE:
                if (parse_bool(value, &rule->force) < 0)
                        parse_error(st, name, "expected yes or no, got '%s'", value);
                break;
        case KEY_SRIOV_NUMVFS:
                parse_sriov_numvfs(st, rule, name, value);
                break;
        default:
                devprep_handle(st, rule, bit, name, value);
                break;
        }
        return 1;
}

static char *trim(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = '\0';
        return s;
}

static int begin_rule(ParseState *st, const char *name) {
        VfptRule *r;
        unsigned *k, *l;

        for (size_t i = 0; i < st->n_rules; i++)
                if (streq(st->rules[i].name, name)) {
                        parse_error(st, NULL, "rule [%s] is defined twice; first at line %u", name, st->rules[i].line);
                        break;
                }
        for (size_t i = 0; i < st->config->n_rules; i++)
                if (streq(st->config->rules[i].name, name)) {
                        parse_error(st, NULL, "rule [%s] is already defined at %s:%u", name,
                                    st->config->rules[i].file, st->config->rules[i].line);
                        break;
                }

        r = realloc(st->rules, (st->n_rules + 1) * sizeof(*r));
        if (!r)
                return -ENOMEM;
        st->rules = r;
        k = realloc(st->keys_seen, (st->n_rules + 1) * sizeof(*k));
        if (!k)
                return -ENOMEM;
        st->keys_seen = k;
        l = realloc(st->key_lines, (st->n_rules + 1) * sizeof(*l));
        if (!l)
                return -ENOMEM;
        st->key_lines = l;

        st->keys_seen[st->n_rules] = 0;
        st->key_lines[st->n_rules] = 0;
        st->rules[st->n_rules] = (VfptRule) { .line = st->line, .group = VFPT_GROUP_CLAIM };
        st->rules[st->n_rules].name = strdup(name);
        st->rules[st->n_rules].file = strdup(st->file);
        st->rules[st->n_rules].driver = strdup(VFPT_DRIVER_VFIO_PCI);
        st->n_rules++;
        if (!st->rules[st->n_rules - 1].name || !st->rules[st->n_rules - 1].file ||
            !st->rules[st->n_rules - 1].driver)
                return -ENOMEM;
        return 0;
}

/* inih's line reader: hands out one line of st->text at a time. */
static char *reader(char *str, int num, void *stream) {
        ParseState *st = stream;
        const char *start = st->text + st->pos, *nl;
        size_t len, max = (size_t) num - 1;
        char *t;

        if (!*start)
                return NULL;
        nl = strchr(start, '\n');
        len = nl ? (size_t) (nl - start) + 1 : strlen(start);
        st->pos += len;
        st->line++;
        st->continuation = start[0] == ' ' || start[0] == '\t';

        if (len > max || memchr(start, '\0', len)) {
                parse_error(st, NULL, "line is longer than %zu characters", max - 1);
                strcpy(str, ";\n");
                return str;
        }
        memcpy(str, start, len);
        str[len] = '\0';

        /* inih knows only ';' for comments after a value; people also write
         * '#'. No value of ours can contain one. */
        for (char *h = strchr(str, '#'); h; h = strchr(h + 1, '#'))
                if (h > str && isspace((unsigned char) h[-1])) {
                        h[0] = '\n';
                        h[1] = '\0';
                        break;
                }

        t = trim(str);
        if (*t == '[') {
                char *end = strchr(t, ']');
                if (end) {
                        _cleanup_free_ char *name = strndup(t + 1, (size_t) (end - t - 1));
                        if (!name || begin_rule(st, trim(name)) < 0)
                                st->oom = -ENOMEM;
                        /* inih trims the name the same way. */
                }
        }
        return str;
}

static void parse_state_done(ParseState *st) {
        for (size_t i = 0; i < st->n_rules; i++)
                rule_done(&st->rules[i]);
        free(st->rules);
        free(st->keys_seen);
        free(st->key_lines);
}

static int config_parse_text(VfptConfig *c, const char *file, const char *text) {
        ParseState st = {
                .config = c,
                .file = file,
                .text = text,
                .n_errors_before = c->n_errors,
        };
        int r;

        r = ini_parse_stream(reader, &st, handler, &st);
        if (st.oom) {
                parse_state_done(&st);
                return st.oom;
        }
        if (r > 0) {
                if (config_add_error(c, file, (unsigned) r, NULL,
                                     "cannot parse this line; expected [rule], key = value, or a comment") < 0) {
                        parse_state_done(&st);
                        return -ENOMEM;
                }
        } else if (r < 0) {
                parse_state_done(&st);
                return -ENOMEM;
        }

        for (size_t i = 0; i < st.n_rules; i++)
                if (st.rules[i].n_ids == 0 && st.rules[i].n_addresses == 0 && !(st.keys_seen[i] & (KEY_IDS | KEY_ADDRESSES)))
                        if (config_add_error(c, file, st.rules[i].line, NULL,
                                             "rule [%s] needs ids or addresses to say which devices it claims",
                                             st.rules[i].name) < 0) {
                                parse_state_done(&st);
                                return -ENOMEM;
                        }

        for (size_t i = 0; i < st.n_rules; i++)
                if (check_sriov_rule(c, file, &st.rules[i]) < 0) {
                        parse_state_done(&st);
                        return -ENOMEM;
                }

        /* One mistake makes the whole file suspect: take none of its rules. */
        if (c->n_errors == st.n_errors_before && st.n_rules > 0) {
                VfptRule *m = realloc(c->rules, (c->n_rules + st.n_rules) * sizeof(*m));
                if (!m) {
                        parse_state_done(&st);
                        return -ENOMEM;
                }
                c->rules = m;
                memcpy(c->rules + c->n_rules, st.rules, st.n_rules * sizeof(*m));
                c->n_rules += st.n_rules;
                st.n_rules = 0;
        }
        parse_state_done(&st);
        return 0;
}

static int config_new(VfptConfig **ret) {
        *ret = calloc(1, sizeof(VfptConfig));
        return *ret ? 0 : -ENOMEM;
}

int vfpt_config_load_string(VfptConfig **ret, const char *file, const char *text) {
        VfptConfig *c;
        int r;

        r = config_new(&c);
        if (r < 0)
                return r;
        r = config_parse_text(c, file, text);
        if (r < 0) {
                vfpt_config_free(c);
                return r;
        }
        r = strv_extend(&c->files, file);
        if (r < 0) {
                vfpt_config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static int read_file(const char *path, char **ret) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, n = 0;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        /* A drop-in is a few lines: grow as needed, give up past 1 MiB. */
        for (;;) {
                if (n == size) {
                        char *m;
                        if (size >= 1024 * 1024)
                                return -EFBIG;
                        size = size ? size * 2 : 4096;
                        m = realloc(buf, size + 1);
                        if (!m)
                                return -ENOMEM;
                        buf = m;
                }
                n += fread(buf + n, 1, size - n, f);
                if (ferror(f))
                        return -EIO;
                if (feof(f))
                        break;
        }
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

static bool is_masked(const char *path) {
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target) - 1);

        if (n < 0)
                return false;
        target[n] = '\0';
        return streq(target, "/dev/null");
}

/* Orders drop-in paths by file name alone, whatever directory holds them. */
static int cmp_basename(const void *a, const void *b) {
        const char *x = *(char *const *) a, *y = *(char *const *) b;
        return strcmp(strrchr(x, '/') + 1, strrchr(y, '/') + 1);
}

int vfpt_config_load(VfptConfig **ret, const char *const *dirs) {
        static const char *const default_dirs[] = { VFPT_CONFIG_DIRS, NULL };
        VfptConfig *c = NULL;
        _cleanup_strv_free_ char **names = NULL, **paths = NULL;
        int r;

        if (!dirs)
                dirs = default_dirs;
        r = config_new(&c);
        if (r < 0)
                return r;

        /* Collect names; the first directory that has a name owns it. */
        for (const char *const *d = dirs; *d; d++) {
                _cleanup_closedir_ DIR *dir = opendir(*d);
                struct dirent *de;

                if (!dir) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue;
                        r = config_add_error(c, *d, 0, NULL, "cannot read directory: %s", strerror(errno));
                        if (r < 0)
                                goto fail;
                        continue;
                }
                while ((de = readdir(dir))) {
                        size_t len = strlen(de->d_name);
                        if (de->d_name[0] == '.' || len <= strlen(VFPT_CONFIG_SUFFIX) ||
                            !endswith(de->d_name, VFPT_CONFIG_SUFFIX))
                                continue;
                        if (strv_contains(names, de->d_name))
                                continue;
                        r = strv_extend(&names, de->d_name);
                        if (r < 0)
                                goto fail;
                        r = strv_push(&paths, strdup_printf("%s/%s", *d, de->d_name));
                        if (r < 0)
                                goto fail;
                }
        }

        /* Every path ends in "/NAME", so sorting them by basename orders them by name. */
        {
                size_t n = strv_length(paths);
                qsort(paths, n, sizeof(char *), cmp_basename);
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *text = NULL;
                        const char *path = paths[i];

                        if (is_masked(path))
                                continue;
                        r = read_file(path, &text);
                        if (r == -ENOMEM)
                                goto fail;
                        if (r < 0) {
                                r = config_add_error(c, path, 0, NULL, "cannot read: %s", strerror(-r));
                                if (r < 0)
                                        goto fail;
                                continue;
                        }
                        r = config_parse_text(c, path, text);
                        if (r < 0)
                                goto fail;
                        r = strv_extend(&c->files, path);
                        if (r < 0)
                                goto fail;
                }
        }

        *ret = c;
        return 0;
fail:
        vfpt_config_free(c);
        return r;
}
