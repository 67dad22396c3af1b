/* test-config.c — unit tests for vfpt.d(5) parsing: keys, values and their
 * defaults, error collection with file:line and key, drop-in directory
 * precedence and masking, and rule matching. Files live in mkdtemp dirs. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfpt-config.h"

/* ---- helpers ---------------------------------------------------------- */

static VfptConfig *load_string_ok(const char *file, const char *text) {
        VfptConfig *c = NULL;
        int r = vfpt_config_load_string(&c, file, text);

        ck_assert_msg(r == 0, "vfpt_config_load_string() = %d", r);
        ck_assert_ptr_nonnull(c);
        return c;
}

/* The whole error list, for failure messages. */
static const char *errors_text(const VfptConfig *c) {
        static char buf[4096];
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < c->n_errors && n < sizeof(buf); i++) {
                int k = snprintf(buf + n, sizeof(buf) - n, "[%s] ", c->errors[i].message ? c->errors[i].message : "(null)");
                if (k < 0)
                        break;
                n += (size_t) k;
        }
        return buf;
}

static void assert_no_errors(const VfptConfig *c) {
        ck_assert_msg(c->n_errors == 0, "unexpected errors: %s", errors_text(c));
}

/* Loads text that must give exactly one error, and returns it. */
static const VfptConfigError *single_error(const VfptConfig *c) {
        ck_assert_msg(c->n_errors == 1, "expected 1 error, got %zu: %s", c->n_errors, errors_text(c));
        ck_assert_ptr_nonnull(c->errors[0].message);
        return &c->errors[0];
}

/* Some error at that line; other errors may follow from the same mistake. */
static const VfptConfigError *error_at_line(const VfptConfig *c, unsigned line) {
        for (size_t i = 0; i < c->n_errors; i++)
                if (c->errors[i].line == line)
                        return &c->errors[i];
        ck_abort_msg("no error at line %u: %s", line, errors_text(c));
        return NULL;
}

static const VfptRule *find_rule(const VfptConfig *c, const char *name) {
        for (size_t i = 0; i < c->n_rules; i++)
                if (strcmp(c->rules[i].name, name) == 0)
                        return &c->rules[i];
        return NULL;
}

static void assert_starts_with(const char *s, const char *prefix) {
        ck_assert_msg(strncmp(s, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'", s, prefix);
}

static void assert_contains(const char *s, const char *needle) {
        ck_assert_msg(s && strstr(s, needle), "'%s' does not contain '%s'", s ? s : "(null)", needle);
}

static void make_dir(char *template) {
        ck_assert_ptr_nonnull(mkdtemp(template));
}

static void join(char ret[static PATH_MAX], const char *dir, const char *name) {
        int n = snprintf(ret, PATH_MAX, "%s/%s", dir, name);

        ck_assert(n > 0 && n < PATH_MAX);
}

static void sub_dir(char ret[static PATH_MAX], const char *parent, const char *name) {
        join(ret, parent, name);
        ck_assert_int_eq(mkdir(ret, 0755), 0);
}

static void write_file(const char *dir, const char *name, const char *text) {
        char path[PATH_MAX];
        FILE *f;

        join(path, dir, name);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
}

static void mask_file(const char *dir, const char *name) {
        char path[PATH_MAX];

        join(path, dir, name);
        ck_assert_int_eq(symlink("/dev/null", path), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void rm_rf(const char *path) {
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t files_length(const VfptConfig *c) {
        size_t n = 0;

        if (!c->files)
                return 0;
        while (c->files[n])
                n++;
        return n;
}

static bool files_contain(const VfptConfig *c, const char *path) {
        for (size_t i = 0; i < files_length(c); i++)
                if (strcmp(c->files[i], path) == 0)
                        return true;
        return false;
}

static VfptConfig *load_dirs_ok(const char *const *dirs) {
        VfptConfig *c = NULL;
        int r = vfpt_config_load(&c, dirs);

        ck_assert_msg(r == 0, "vfpt_config_load() = %d", r);
        ck_assert_ptr_nonnull(c);
        return c;
}

/* ---- keys and defaults ------------------------------------------------ */

START_TEST(test_rule_is_named_by_section_with_defaults)
{
        VfptConfig *c = load_string_ok("name.conf",
                                       "# a comment\n"
                                       "\n"
                                       "[gpu]\n"
                                       "ids = 10de:1b80\n");

        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_str_eq(c->rules[0].name, "gpu");
        ck_assert_str_eq(c->rules[0].file, "name.conf");
        ck_assert_uint_eq(c->rules[0].line, 3);
        ck_assert_uint_eq(c->rules[0].n_ids, 1);
        ck_assert_uint_eq(c->rules[0].ids[0].vendor, 0x10de);
        ck_assert_uint_eq(c->rules[0].ids[0].device, 0x1b80);
        ck_assert_uint_eq(c->rules[0].n_addresses, 0);
        ck_assert_str_eq(c->rules[0].driver, "vfio-pci");
        ck_assert_int_eq(c->rules[0].group, VFPT_GROUP_CLAIM);
        ck_assert(!c->rules[0].force);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_rules_keep_file_order)
{
        VfptConfig *c = load_string_ok("order.conf",
                                       "[zeta]\nids = 8086:1533\n"
                                       "[alpha]\nids = 8086:1534\n"
                                       "[mid]\naddresses = 03:00.0\n");

        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 3);
        ck_assert_str_eq(c->rules[0].name, "zeta");
        ck_assert_str_eq(c->rules[1].name, "alpha");
        ck_assert_str_eq(c->rules[2].name, "mid");
        ck_assert_uint_eq(c->rules[1].line, 3);
        ck_assert_uint_eq(c->rules[2].line, 5);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_ids_take_several_separated_by_spaces_and_commas)
{
        VfptConfig *c = load_string_ok("ids.conf",
                                       "[many]\n"
                                       "ids = 8086:1533, 10de:*  1b21:1242,1af4:1000 ,  abcd:EF01\n");

        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_uint_eq(c->rules[0].n_ids, 5);
        ck_assert_uint_eq(c->rules[0].ids[0].vendor, 0x8086);
        ck_assert_uint_eq(c->rules[0].ids[0].device, 0x1533);
        ck_assert_uint_eq(c->rules[0].ids[1].vendor, 0x10de);
        ck_assert(c->rules[0].ids[1].any_device);
        ck_assert_uint_eq(c->rules[0].ids[2].vendor, 0x1b21);
        ck_assert_uint_eq(c->rules[0].ids[2].device, 0x1242);
        ck_assert_uint_eq(c->rules[0].ids[3].vendor, 0x1af4);
        ck_assert_uint_eq(c->rules[0].ids[3].device, 0x1000);
        ck_assert_uint_eq(c->rules[0].ids[4].vendor, 0xabcd);
        ck_assert_uint_eq(c->rules[0].ids[4].device, 0xef01);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_addresses_take_several_with_optional_domain_and_wildcard)
{
        VfptConfig *c = load_string_ok("addr.conf",
                                       "[slots]\n"
                                       "addresses = 0000:03:00.0,04:00.* 0001:05:1f.7\n");

        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_uint_eq(c->rules[0].n_ids, 0);
        ck_assert_uint_eq(c->rules[0].n_addresses, 3);
        ck_assert_uint_eq(c->rules[0].addresses[0].address.bus, 3);
        ck_assert(!c->rules[0].addresses[0].any_function);
        ck_assert_uint_eq(c->rules[0].addresses[1].address.domain, 0);
        ck_assert_uint_eq(c->rules[0].addresses[1].address.bus, 4);
        ck_assert(c->rules[0].addresses[1].any_function);
        ck_assert_uint_eq(c->rules[0].addresses[2].address.domain, 1);
        ck_assert_uint_eq(c->rules[0].addresses[2].address.slot, 0x1f);
        ck_assert_uint_eq(c->rules[0].addresses[2].address.function, 7);
        vfpt_config_free(c);
}
END_TEST

static const char *const good_drivers[] = {
        "vfio-pci",
        "pci-stub",
        "mlx5_vfio_pci",
        "nvgrace_gpu_vfio_pci",
        "hisi_acc_vfio_pci",
        "foo-vfio-pci",
};

START_TEST(test_driver_accepts_vfio_pci_variants_and_pci_stub)
{
        const char *d = good_drivers[_i];
        char text[256];
        VfptConfig *c;

        ck_assert(vfpt_driver_name_valid(d));
        snprintf(text, sizeof(text), "[r]\nids = 8086:1533\ndriver = %s\n", d);
        c = load_string_ok("drv.conf", text);
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_str_eq(c->rules[0].driver, d);
        vfpt_config_free(c);
}
END_TEST

static const char *const bad_drivers[] = {
        "e1000e",
        "nvidia",
        "vfio",
        "vfio-pci-extra",
        "vfio_pci_core",
        "pci-stubby",
        "ahci",
};

START_TEST(test_driver_rejects_host_drivers)
{
        const char *d = bad_drivers[_i];
        char text[256];
        VfptConfig *c;
        const VfptConfigError *e;

        ck_assert_msg(!vfpt_driver_name_valid(d), "'%s' valid", d);
        snprintf(text, sizeof(text), "[r]\nids = 8086:1533\ndriver = %s\n", d);
        c = load_string_ok("drv.conf", text);
        e = single_error(c);
        ck_assert_uint_eq(c->n_rules, 0);
        ck_assert_uint_eq(e->line, 3);
        ck_assert_str_eq(e->key, "driver");
        assert_starts_with(e->message, "drv.conf:3:");
        assert_contains(e->message, "'driver'");
        assert_contains(e->message, d);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_driver_name_valid_rejects_empty)
{
        ck_assert(!vfpt_driver_name_valid(""));
}
END_TEST

START_TEST(test_group_accepts_claim_and_strict)
{
        VfptConfig *c = load_string_ok("g.conf",
                                       "[a]\nids = 8086:1533\ngroup = strict\n"
                                       "[b]\nids = 8086:1534\ngroup = claim\n");

        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 2);
        ck_assert_int_eq(c->rules[0].group, VFPT_GROUP_STRICT);
        ck_assert_int_eq(c->rules[1].group, VFPT_GROUP_CLAIM);
        ck_assert_str_eq(vfpt_group_policy_to_string(VFPT_GROUP_CLAIM), "claim");
        ck_assert_str_eq(vfpt_group_policy_to_string(VFPT_GROUP_STRICT), "strict");
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_group_rejects_other_values)
{
        VfptConfig *c = load_string_ok("g.conf", "[a]\nids = 8086:1533\ngroup = loose\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(c->n_rules, 0);
        ck_assert_str_eq(e->key, "group");
        ck_assert_uint_eq(e->line, 3);
        assert_starts_with(e->message, "g.conf:3:");
        assert_contains(e->message, "'group'");
        assert_contains(e->message, "loose");
        vfpt_config_free(c);
}
END_TEST

static const struct {
        const char *text;
        bool value;
} force_values[] = {
        { "yes", true },
        { "true", true },
        { "1", true },
        { "on", true },
        { "no", false },
        { "false", false },
        { "0", false },
        { "off", false },
};

START_TEST(test_force_accepts_boolean_words)
{
        char text[256];
        VfptConfig *c;

        snprintf(text, sizeof(text), "[r]\nids = 8086:1533\nforce = %s\n", force_values[_i].text);
        c = load_string_ok("f.conf", text);
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_msg(c->rules[0].force == force_values[_i].value, "force = %s", force_values[_i].text);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_force_rejects_non_boolean)
{
        VfptConfig *c = load_string_ok("f.conf", "[r]\nids = 8086:1533\nforce = maybe\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(c->n_rules, 0);
        ck_assert_str_eq(e->key, "force");
        ck_assert_uint_eq(e->line, 3);
        assert_contains(e->message, "'force'");
        assert_contains(e->message, "maybe");
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_inline_semicolon_comment_is_not_part_of_value)
{
        VfptConfig *c = load_string_ok("c.conf",
                                       "[r]\n"
                                       "ids = 8086:1533 ; the NIC\n"
                                       "driver = pci-stub ; stub it\n"
                                       "group = strict ; all or nothing\n"
                                       "force = yes ; really\n");

        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_uint_eq(c->rules[0].n_ids, 1);
        ck_assert_str_eq(c->rules[0].driver, "pci-stub");
        ck_assert_int_eq(c->rules[0].group, VFPT_GROUP_STRICT);
        ck_assert(c->rules[0].force);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_inline_hash_comment_is_not_part_of_value)
{
        VfptConfig *c = load_string_ok("c.conf",
                                       "[r]\n"
                                       "addresses = 0000:03:00.0 # the slot\n"
                                       "driver = pci-stub # stub it\n");

        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_uint_eq(c->rules[0].n_addresses, 1);
        ck_assert_uint_eq(c->rules[0].addresses[0].address.bus, 3);
        ck_assert_str_eq(c->rules[0].driver, "pci-stub");
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_design_example_parses)
{
        /* The example from DESIGN.md section 2, comments and all. */
        VfptConfig *c = load_string_ok("aaos.conf",
                "[aaos-usb]\n"
                "ids = 1b21:1242            ; vendor:device, several allowed, device may be *\n"
                "addresses = 0000:03:00.0   ; several allowed; domain optional; function may be *\n"
                "# both keys given: a device must match both (pins identity to a slot)\n"
                "driver = vfio-pci          ; default; a vfio variant driver or pci-stub also allowed\n"
                "group = claim              ; claim (default): claim every endpoint of the group\n"
                "                           ; strict: refuse unless every endpoint is matched by a rule\n"
                "force = no                 ; yes: skip the in-use guards (section 4) for this rule\n");

        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_str_eq(c->rules[0].name, "aaos-usb");
        ck_assert_uint_eq(c->rules[0].n_ids, 1);
        ck_assert_uint_eq(c->rules[0].n_addresses, 1);
        ck_assert_str_eq(c->rules[0].driver, "vfio-pci");
        ck_assert_int_eq(c->rules[0].group, VFPT_GROUP_CLAIM);
        ck_assert(!c->rules[0].force);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_empty_text_gives_no_rules_and_no_errors)
{
        VfptConfig *c = load_string_ok("empty.conf", "");

        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);

        c = load_string_ok("comments.conf", "# only\n; comments\n\n");
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_long_ids_line_is_read_whole_or_refused)
{
        /* 40 IDs make a line of about 440 characters, longer than inih's
         * default line buffer. Reading only part of the list would silently
         * drop devices from the rule; either every ID is there or the file
         * is refused. */
        char text[1024] = "[many]\nids =";
        VfptConfig *c;

        for (unsigned i = 0; i < 40; i++) {
                char id[16];

                snprintf(id, sizeof(id), " 8086:%04x", 0x1000 + i);
                strcat(text, id);
        }
        strcat(text, "\n");
        c = load_string_ok("long.conf", text);
        if (c->n_errors == 0) {
                ck_assert_uint_eq(c->n_rules, 1);
                ck_assert_uint_eq(c->rules[0].n_ids, 40);
                ck_assert_uint_eq(c->rules[0].ids[39].device, 0x1027);
        } else
                ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

START_TEST(test_bad_id_error_names_file_line_key_and_value)
{
        VfptConfig *c = load_string_ok("bad.conf", "[r]\naddresses = 03:00.0\nids = zz\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_str_eq(e->file, "bad.conf");
        ck_assert_uint_eq(e->line, 3);
        ck_assert_str_eq(e->key, "ids");
        assert_starts_with(e->message, "bad.conf:3:");
        assert_contains(e->message, "'ids'");
        assert_contains(e->message, "'zz'");
        /* Says what was expected, not just that it is wrong. */
        assert_contains(e->message, "8086:1533");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_one_bad_id_among_good_ones_is_an_error)
{
        VfptConfig *c = load_string_ok("bad.conf", "[r]\naddresses = 03:00.0\nids = 8086:1533, ffff:0001, 10de:*\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_str_eq(e->key, "ids");
        assert_contains(e->message, "ffff:0001");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_bad_address_error_names_key_and_value)
{
        VfptConfig *c = load_string_ok("bad.conf", "[r]\nids = 8086:1533\naddresses = 03:00.0 03:20.0\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(e->line, 3);
        ck_assert_str_eq(e->key, "addresses");
        assert_starts_with(e->message, "bad.conf:3:");
        assert_contains(e->message, "'addresses'");
        assert_contains(e->message, "03:20.0");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_unknown_key_is_an_error)
{
        VfptConfig *c = load_string_ok("u.conf", "[r]\nids = 8086:1533\nreset_methd = flr\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(e->line, 3);
        ck_assert_str_eq(e->key, "reset_methd");
        assert_starts_with(e->message, "u.conf:3:");
        assert_contains(e->message, "'reset_methd'");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_key_outside_any_section_is_an_error)
{
        VfptConfig *c = load_string_ok("o.conf", "ids = 8086:1533\n[r]\nids = 8086:1534\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(e->line, 1);
        assert_starts_with(e->message, "o.conf:1:");
        assert_contains(e->message, "ids");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_duplicate_key_in_rule_is_an_error_at_second_line)
{
        VfptConfig *c = load_string_ok("d.conf", "[r]\nids = 8086:1533\ndriver = vfio-pci\nids = 8086:1534\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(e->line, 4);
        ck_assert_str_eq(e->key, "ids");
        assert_starts_with(e->message, "d.conf:4:");
        assert_contains(e->message, "'ids'");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_duplicate_rule_name_in_file_is_an_error_at_second_section)
{
        VfptConfig *c = load_string_ok("d.conf",
                                       "[gpu]\nids = 10de:1b80\n"
                                       "[nic]\nids = 8086:1533\n"
                                       "[gpu]\nids = 10de:10f0\n");

        const VfptConfigError *e = error_at_line(c, 5);

        assert_starts_with(e->message, "d.conf:5:");
        assert_contains(e->message, "gpu");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_rule_without_ids_or_addresses_is_an_error_at_section_line)
{
        VfptConfig *c = load_string_ok("e.conf",
                                       "[ok]\nids = 8086:1533\n"
                                       "\n"
                                       "[empty]\n"
                                       "driver = vfio-pci\n"
                                       "force = yes\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(e->line, 4);
        assert_starts_with(e->message, "e.conf:4:");
        assert_contains(e->message, "empty");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_empty_section_at_end_is_an_error)
{
        /* The last section has no following section header to trigger the
         * check: it must still be made at the end of the file. */
        VfptConfig *c = load_string_ok("e.conf", "[ok]\nids = 8086:1533\n[last]\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(e->line, 3);
        assert_contains(e->message, "last");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_unparsable_line_is_an_error_with_its_line)
{
        VfptConfig *c = load_string_ok("p.conf", "[r]\nids = 8086:1533\njust some words\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(e->line, 3);
        assert_starts_with(e->message, "p.conf:3:");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_unterminated_section_header_is_an_error)
{
        VfptConfig *c = load_string_ok("p.conf", "[r]\nids = 8086:1533\n[broken\nids = 8086:1534\n");

        const VfptConfigError *e = error_at_line(c, 3);

        assert_starts_with(e->message, "p.conf:3:");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_all_errors_of_a_file_are_collected)
{
        VfptConfig *c = load_string_ok("many.conf",
                                       "[a]\n"
                                       "addresses = 03:00.0\n"
                                       "ids = zz\n"          /* 3 */
                                       "bogus = 1\n"         /* 4 */
                                       "[b]\n"
                                       "ids = 8086:1533\n"
                                       "group = never\n"     /* 7 */
                                       "force = perhaps\n"); /* 8 */
        bool seen[9] = {};

        ck_assert_msg(c->n_errors == 4, "expected 4 errors: %s", errors_text(c));
        for (size_t i = 0; i < c->n_errors; i++) {
                ck_assert_str_eq(c->errors[i].file, "many.conf");
                ck_assert_uint_lt(c->errors[i].line, 9);
                seen[c->errors[i].line] = true;
        }
        ck_assert_msg(seen[3] && seen[4] && seen[7] && seen[8], "errors: %s", errors_text(c));
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_file_with_an_error_contributes_no_rules)
{
        VfptConfig *c = load_string_ok("half.conf",
                                       "[good]\nids = 8086:1533\n"
                                       "[bad]\nids = 8086:1534\ndriver = e1000e\n");

        ck_assert_uint_eq(c->n_errors, 1);
        ck_assert_uint_eq(c->n_rules, 0);
        ck_assert_ptr_null(find_rule(c, "good"));
        vfpt_config_free(c);
}
END_TEST

/* ---- directories -------------------------------------------------------- */

START_TEST(test_files_are_read_in_lexical_order_of_name_across_dirs)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        char etc[PATH_MAX], lib[PATH_MAX], path[PATH_MAX];
        VfptConfig *c;

        make_dir(root);
        sub_dir(etc, root, "etc");
        sub_dir(lib, root, "lib");
        /* The higher-precedence dir holds the later names: order must follow
         * names, not dirs. */
        write_file(etc, "20-b.conf", "[b]\nids = 8086:0002\n");
        write_file(etc, "40-d.conf", "[d]\nids = 8086:0004\n");
        write_file(lib, "10-a.conf", "[a]\nids = 8086:0001\n");
        write_file(lib, "30-c.conf", "[c]\nids = 8086:0003\n");

        c = load_dirs_ok((const char *const[]) { etc, lib, NULL });
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 4);
        ck_assert_str_eq(c->rules[0].name, "a");
        ck_assert_str_eq(c->rules[1].name, "b");
        ck_assert_str_eq(c->rules[2].name, "c");
        ck_assert_str_eq(c->rules[3].name, "d");

        ck_assert_uint_eq(files_length(c), 4);
        join(path, lib, "10-a.conf");
        ck_assert_str_eq(c->files[0], path);
        join(path, etc, "20-b.conf");
        ck_assert_str_eq(c->files[1], path);
        join(path, lib, "30-c.conf");
        ck_assert_str_eq(c->files[2], path);
        join(path, etc, "40-d.conf");
        ck_assert_str_eq(c->files[3], path);

        /* A rule remembers the full path of its file. */
        join(path, lib, "10-a.conf");
        ck_assert_str_eq(c->rules[0].file, path);
        ck_assert_uint_eq(c->rules[0].line, 1);

        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

START_TEST(test_earlier_dir_hides_same_named_file)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        char etc[PATH_MAX], lib[PATH_MAX], path[PATH_MAX];
        VfptConfig *c;

        make_dir(root);
        sub_dir(etc, root, "etc");
        sub_dir(lib, root, "lib");
        write_file(etc, "50-gpu.conf", "[local]\nids = 10de:1b80\n");
        write_file(lib, "50-gpu.conf", "[vendor]\nids = 10de:*\n");

        c = load_dirs_ok((const char *const[]) { etc, lib, NULL });
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_str_eq(c->rules[0].name, "local");
        ck_assert_uint_eq(files_length(c), 1);
        join(path, etc, "50-gpu.conf");
        ck_assert_str_eq(c->files[0], path);
        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

START_TEST(test_hidden_file_errors_are_not_reported)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        char etc[PATH_MAX], lib[PATH_MAX];
        VfptConfig *c;

        make_dir(root);
        sub_dir(etc, root, "etc");
        sub_dir(lib, root, "lib");
        /* The override exists precisely to replace a broken vendor file. */
        write_file(etc, "50-gpu.conf", "[local]\nids = 10de:1b80\n");
        write_file(lib, "50-gpu.conf", "[vendor]\nids = nonsense\n");

        c = load_dirs_ok((const char *const[]) { etc, lib, NULL });
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_str_eq(c->rules[0].name, "local");
        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

START_TEST(test_dev_null_symlink_masks_file)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        char etc[PATH_MAX], lib[PATH_MAX], path[PATH_MAX];
        VfptConfig *c;

        make_dir(root);
        sub_dir(etc, root, "etc");
        sub_dir(lib, root, "lib");
        mask_file(etc, "50-gpu.conf");
        write_file(lib, "50-gpu.conf", "[vendor]\nids = 10de:*\n");
        write_file(lib, "60-nic.conf", "[nic]\nids = 8086:1533\n");

        c = load_dirs_ok((const char *const[]) { etc, lib, NULL });
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_str_eq(c->rules[0].name, "nic");
        join(path, lib, "50-gpu.conf");
        ck_assert(!files_contain(c, path));
        join(path, lib, "60-nic.conf");
        ck_assert(files_contain(c, path));
        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

START_TEST(test_dev_null_symlink_alone_is_no_error)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        VfptConfig *c;

        make_dir(root);
        mask_file(root, "masked.conf");
        c = load_dirs_ok((const char *const[]) { root, NULL });
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

START_TEST(test_symlink_to_a_real_file_is_read)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        char etc[PATH_MAX], shared[PATH_MAX], target[PATH_MAX], link[PATH_MAX];
        VfptConfig *c;

        make_dir(root);
        sub_dir(etc, root, "etc");
        sub_dir(shared, root, "shared");
        write_file(shared, "gpu.conf", "[gpu]\nids = 10de:1b80\n");
        join(target, shared, "gpu.conf");
        join(link, etc, "50-gpu.conf");
        ck_assert_int_eq(symlink(target, link), 0);

        /* Only a link to /dev/null masks; any other link is a file. */
        c = load_dirs_ok((const char *const[]) { etc, NULL });
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_str_eq(c->rules[0].name, "gpu");
        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

START_TEST(test_non_conf_files_are_ignored)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        VfptConfig *c;

        make_dir(root);
        write_file(root, "good.conf", "[good]\nids = 8086:1533\n");
        /* Broken content, so reading any of them would show as an error. */
        write_file(root, "good.conf.bak", "[bak]\nids = broken\n");
        write_file(root, "README", "this is not ini\n");
        write_file(root, "notes.txt", "[txt]\nids = broken\n");
        write_file(root, "x.conff", "[conff]\nids = broken\n");
        write_file(root, "xconf", "[xconf]\nids = broken\n");

        c = load_dirs_ok((const char *const[]) { root, NULL });
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_str_eq(c->rules[0].name, "good");
        ck_assert_uint_eq(files_length(c), 1);
        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

START_TEST(test_missing_directory_is_fine)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        char missing[PATH_MAX];
        VfptConfig *c;

        make_dir(root);
        join(missing, root, "does-not-exist");
        write_file(root, "a.conf", "[a]\nids = 8086:1533\n");

        c = load_dirs_ok((const char *const[]) { missing, root, NULL });
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 1);
        vfpt_config_free(c);

        c = load_dirs_ok((const char *const[]) { missing, NULL });
        assert_no_errors(c);
        ck_assert_uint_eq(c->n_rules, 0);
        ck_assert_uint_eq(files_length(c), 0);
        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

START_TEST(test_bad_file_is_skipped_and_others_still_apply)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        char path[PATH_MAX], prefix[PATH_MAX + 16];
        VfptConfig *c;
        const VfptConfigError *e;

        make_dir(root);
        write_file(root, "10-good.conf", "[good]\nids = 8086:1533\n");
        write_file(root, "20-bad.conf", "[fine]\nids = 8086:1534\n[broken]\nids = 8086:1535\ngroup = sometimes\n");
        write_file(root, "30-also-good.conf", "[also]\naddresses = 03:00.0\n");

        c = load_dirs_ok((const char *const[]) { root, NULL });
        e = single_error(c);
        join(path, root, "20-bad.conf");
        ck_assert_str_eq(e->file, path);
        ck_assert_uint_eq(e->line, 5);
        ck_assert_str_eq(e->key, "group");
        ck_assert_int_gt(snprintf(prefix, sizeof(prefix), "%s:5:", e->file), 0);
        assert_starts_with(e->message, prefix);

        ck_assert_uint_eq(c->n_rules, 2);
        ck_assert_str_eq(c->rules[0].name, "good");
        ck_assert_str_eq(c->rules[1].name, "also");
        ck_assert_ptr_null(find_rule(c, "fine"));
        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

START_TEST(test_duplicate_rule_name_across_files_names_the_second)
{
        char root[] = "/tmp/vfpt-test-config-XXXXXX";
        char first[PATH_MAX], second[PATH_MAX];
        VfptConfig *c;
        const VfptConfigError *e;

        make_dir(root);
        write_file(root, "10-a.conf", "[gpu]\nids = 10de:1b80\n");
        write_file(root, "20-b.conf", "[other]\nids = 8086:1533\n\n[gpu]\nids = 10de:10f0\n");
        join(first, root, "10-a.conf");
        join(second, root, "20-b.conf");

        c = load_dirs_ok((const char *const[]) { root, NULL });
        e = single_error(c);
        ck_assert_str_eq(e->file, second);
        ck_assert_uint_eq(e->line, 4);
        assert_contains(e->message, "gpu");

        /* The first definition stands; the file with the error gives nothing. */
        ck_assert_uint_eq(c->n_rules, 1);
        ck_assert_str_eq(c->rules[0].name, "gpu");
        ck_assert_str_eq(c->rules[0].file, first);
        ck_assert_uint_eq(c->rules[0].n_ids, 1);
        ck_assert_uint_eq(c->rules[0].ids[0].device, 0x1b80);
        ck_assert_ptr_null(find_rule(c, "other"));
        vfpt_config_free(c);
        rm_rf(root);
}
END_TEST

/* ---- matching ----------------------------------------------------------- */

static VfptAddress addr(const char *s) {
        VfptAddress a;

        ck_assert_int_eq(vfpt_address_parse(s, &a), 0);
        return a;
}

START_TEST(test_rule_match_by_ids_any_of_them)
{
        VfptConfig *c = load_string_ok("m.conf", "[r]\nids = 8086:1533 10de:*\n");
        const VfptRule *r = &c->rules[0];
        VfptAddress a = addr("0000:03:00.0");

        assert_no_errors(c);
        ck_assert(vfpt_rule_match(r, &a, 0x8086, 0x1533));
        ck_assert(vfpt_rule_match(r, &a, 0x10de, 0x1234));
        ck_assert(!vfpt_rule_match(r, &a, 0x8086, 0x1534));
        ck_assert(!vfpt_rule_match(r, &a, 0x1af4, 0x1000));
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_rule_match_by_addresses_any_of_them)
{
        VfptConfig *c = load_string_ok("m.conf", "[r]\naddresses = 03:00.0 05:00.*\n");
        const VfptRule *r = &c->rules[0];
        VfptAddress a;

        assert_no_errors(c);
        a = addr("0000:03:00.0");
        ck_assert(vfpt_rule_match(r, &a, 0x8086, 0x1533));
        a = addr("0000:05:00.3");
        ck_assert(vfpt_rule_match(r, &a, 0x1234, 0x5678));
        a = addr("0000:03:00.1");
        ck_assert(!vfpt_rule_match(r, &a, 0x8086, 0x1533));
        a = addr("0001:03:00.0");
        ck_assert(!vfpt_rule_match(r, &a, 0x8086, 0x1533));
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_rule_match_with_ids_and_addresses_needs_both)
{
        VfptConfig *c = load_string_ok("m.conf", "[r]\nids = 1b21:1242\naddresses = 0000:03:00.0\n");
        const VfptRule *r = &c->rules[0];
        VfptAddress here = addr("0000:03:00.0"), elsewhere = addr("0000:04:00.0");

        assert_no_errors(c);
        ck_assert(vfpt_rule_match(r, &here, 0x1b21, 0x1242));
        ck_assert(!vfpt_rule_match(r, &here, 0x8086, 0x1533));    /* other card in the slot */
        ck_assert(!vfpt_rule_match(r, &elsewhere, 0x1b21, 0x1242)); /* same card, other slot */
        vfpt_config_free(c);
}
END_TEST

/* ---- sriov_numvfs ------------------------------------------------------ */

START_TEST(test_sriov_numvfs_is_read)
{
        VfptConfig *c = load_string_ok("s.conf", "[vfs]\nids = 1b36:0010\nsriov_numvfs = 4\n");
        const VfptRule *r;

        assert_no_errors(c);
        r = find_rule(c, "vfs");
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->sriov_numvfs, 4);
        ck_assert_uint_eq(r->sriov_line, 3);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_rule_without_sriov_numvfs_has_none)
{
        VfptConfig *c = load_string_ok("s.conf", "[nic]\nids = 8086:10d3\n");
        const VfptRule *r = find_rule(c, "nic");

        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->sriov_numvfs, 0);
        vfpt_config_free(c);
}
END_TEST

static const struct {
        const char *value, *says;
} bad_numvfs[] = {
        { "four", "expected a number of virtual functions like 4, got 'four'" },
        { "-1", "got '-1'" },
        { "0x10", "got '0x10'" },
        { "2 VFs", "got '2 VFs'" },
        { "0", "at least 1 virtual function" },
        { "65536", "at most 65535" },
        { "99999999999999999999999", "at most 65535" },
};

START_TEST(test_sriov_numvfs_bad_values_are_errors_naming_the_value)
{
        char text[128];
        VfptConfig *c;
        const VfptConfigError *e;

        snprintf(text, sizeof(text), "[vfs]\nids = 1b36:0010\nsriov_numvfs = %s\n", bad_numvfs[_i].value);
        c = load_string_ok("s.conf", text);
        e = single_error(c);
        ck_assert_uint_eq(e->line, 3);
        ck_assert_str_eq(e->key, "sriov_numvfs");
        assert_starts_with(e->message, "s.conf:3: key 'sriov_numvfs':");
        assert_contains(e->message, bad_numvfs[_i].says);
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_sriov_numvfs_with_wildcard_device_id_is_an_error)
{
        VfptConfig *c = load_string_ok("s.conf", "[vfs]\nids = 8086:*\n\nsriov_numvfs = 2\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(e->line, 4);
        ck_assert_str_eq(e->key, "sriov_numvfs");
        assert_contains(e->message, "8086:*");
        assert_contains(e->message, "[vfs]");
        ck_assert_uint_eq(c->n_rules, 0);
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_sriov_numvfs_given_twice_is_an_error)
{
        VfptConfig *c = load_string_ok("s.conf", "[vfs]\naddresses = 03:00.0\nsriov_numvfs = 2\nsriov_numvfs = 3\n");
        const VfptConfigError *e = single_error(c);

        ck_assert_uint_eq(e->line, 4);
        assert_contains(e->message, "given twice");
        vfpt_config_free(c);
}
END_TEST

START_TEST(test_sriov_rule_by_address_alone_is_fine)
{
        VfptConfig *c = load_string_ok("s.conf", "[vfs]\naddresses = 0000:03:00.*\nsriov_numvfs = 8\ndriver = pci-stub\n");

        const VfptRule *r = find_rule(c, "vfs");

        assert_no_errors(c);
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->sriov_numvfs, 8);
        vfpt_config_free(c);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc;

        tc = tcase_create("keys");
        tcase_add_test(tc, test_rule_is_named_by_section_with_defaults);
        tcase_add_test(tc, test_rules_keep_file_order);
        tcase_add_test(tc, test_ids_take_several_separated_by_spaces_and_commas);
        tcase_add_test(tc, test_addresses_take_several_with_optional_domain_and_wildcard);
        tcase_add_loop_test(tc, test_driver_accepts_vfio_pci_variants_and_pci_stub, 0,
                            (int) (sizeof(good_drivers) / sizeof(good_drivers[0])));
        tcase_add_loop_test(tc, test_driver_rejects_host_drivers, 0,
                            (int) (sizeof(bad_drivers) / sizeof(bad_drivers[0])));
        tcase_add_test(tc, test_driver_name_valid_rejects_empty);
        tcase_add_test(tc, test_group_accepts_claim_and_strict);
        tcase_add_test(tc, test_group_rejects_other_values);
        tcase_add_loop_test(tc, test_force_accepts_boolean_words, 0,
                            (int) (sizeof(force_values) / sizeof(force_values[0])));
        tcase_add_test(tc, test_force_rejects_non_boolean);
        tcase_add_test(tc, test_inline_semicolon_comment_is_not_part_of_value);
        tcase_add_test(tc, test_inline_hash_comment_is_not_part_of_value);
        tcase_add_test(tc, test_design_example_parses);
        tcase_add_test(tc, test_empty_text_gives_no_rules_and_no_errors);
        tcase_add_test(tc, test_long_ids_line_is_read_whole_or_refused);
        suite_add_tcase(s, tc);

        tc = tcase_create("sriov");
        tcase_add_test(tc, test_sriov_numvfs_is_read);
        tcase_add_test(tc, test_rule_without_sriov_numvfs_has_none);
        tcase_add_loop_test(tc, test_sriov_numvfs_bad_values_are_errors_naming_the_value, 0,
                            (int) (sizeof(bad_numvfs) / sizeof(bad_numvfs[0])));
        tcase_add_test(tc, test_sriov_numvfs_with_wildcard_device_id_is_an_error);
        tcase_add_test(tc, test_sriov_numvfs_given_twice_is_an_error);
        tcase_add_test(tc, test_sriov_rule_by_address_alone_is_fine);
        suite_add_tcase(s, tc);

        tc = tcase_create("errors");
        tcase_add_test(tc, test_bad_id_error_names_file_line_key_and_value);
        tcase_add_test(tc, test_one_bad_id_among_good_ones_is_an_error);
        tcase_add_test(tc, test_bad_address_error_names_key_and_value);
        tcase_add_test(tc, test_unknown_key_is_an_error);
        tcase_add_test(tc, test_key_outside_any_section_is_an_error);
        tcase_add_test(tc, test_duplicate_key_in_rule_is_an_error_at_second_line);
        tcase_add_test(tc, test_duplicate_rule_name_in_file_is_an_error_at_second_section);
        tcase_add_test(tc, test_rule_without_ids_or_addresses_is_an_error_at_section_line);
        tcase_add_test(tc, test_empty_section_at_end_is_an_error);
        tcase_add_test(tc, test_unparsable_line_is_an_error_with_its_line);
        tcase_add_test(tc, test_unterminated_section_header_is_an_error);
        tcase_add_test(tc, test_all_errors_of_a_file_are_collected);
        tcase_add_test(tc, test_file_with_an_error_contributes_no_rules);
        suite_add_tcase(s, tc);

        tc = tcase_create("directories");
        tcase_add_test(tc, test_files_are_read_in_lexical_order_of_name_across_dirs);
        tcase_add_test(tc, test_earlier_dir_hides_same_named_file);
        tcase_add_test(tc, test_hidden_file_errors_are_not_reported);
        tcase_add_test(tc, test_dev_null_symlink_masks_file);
        tcase_add_test(tc, test_dev_null_symlink_alone_is_no_error);
        tcase_add_test(tc, test_symlink_to_a_real_file_is_read);
        tcase_add_test(tc, test_non_conf_files_are_ignored);
        tcase_add_test(tc, test_missing_directory_is_fine);
        tcase_add_test(tc, test_bad_file_is_skipped_and_others_still_apply);
        tcase_add_test(tc, test_duplicate_rule_name_across_files_names_the_second);
        suite_add_tcase(s, tc);

        tc = tcase_create("match");
        tcase_add_test(tc, test_rule_match_by_ids_any_of_them);
        tcase_add_test(tc, test_rule_match_by_addresses_any_of_them);
        tcase_add_test(tc, test_rule_match_with_ids_and_addresses_needs_both);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(config_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
