/* test-address.c — unit tests for PCI address and vendor:device ID parsing,
 * formatting and matching. A parser that is lenient here would let a rule
 * match a device the administrator never named. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vfpt-address.h"

static VfptAddress parse_ok(const char *s) {
        VfptAddress a;
        int r;

        memset(&a, 0xaa, sizeof(a));
        r = vfpt_address_parse(s, &a);
        ck_assert_msg(r == 0, "parsing '%s' failed: %d", s, r);
        return a;
}

static void assert_address(const VfptAddress *a, unsigned domain, unsigned bus, unsigned slot, unsigned function) {
        ck_assert_uint_eq(a->domain, domain);
        ck_assert_uint_eq(a->bus, bus);
        ck_assert_uint_eq(a->slot, slot);
        ck_assert_uint_eq(a->function, function);
}

START_TEST(test_address_parse_full_form_gives_each_field)
{
        VfptAddress a = parse_ok("0000:03:00.0");
        assert_address(&a, 0, 3, 0, 0);

        a = parse_ok("abcd:ef:1f.7");
        assert_address(&a, 0xabcd, 0xef, 0x1f, 7);

        a = parse_ok("0001:80:02.3");
        assert_address(&a, 1, 0x80, 2, 3);
}
END_TEST

START_TEST(test_address_parse_short_form_means_domain_zero)
{
        VfptAddress a = parse_ok("03:00.0");
        assert_address(&a, 0, 3, 0, 0);

        a = parse_ok("ff:1f.7");
        assert_address(&a, 0, 0xff, 0x1f, 7);
}
END_TEST

START_TEST(test_address_parse_hex_is_case_insensitive)
{
        VfptAddress lower = parse_ok("abcd:ef:1a.1");
        VfptAddress upper = parse_ok("ABCD:EF:1A.1");
        VfptAddress mixed = parse_ok("aBcD:eF:1A.1");

        assert_address(&upper, 0xabcd, 0xef, 0x1a, 1);
        ck_assert_int_eq(vfpt_address_compare(&lower, &upper), 0);
        ck_assert_int_eq(vfpt_address_compare(&lower, &mixed), 0);
}
END_TEST

START_TEST(test_address_parse_rejects_slot_above_1f)
{
        VfptAddress a;

        ck_assert_int_eq(vfpt_address_parse("0000:00:20.0", &a), -EINVAL);
        ck_assert_int_eq(vfpt_address_parse("00:ff.0", &a), -EINVAL);
        /* The boundary itself is valid. */
        ck_assert_int_eq(vfpt_address_parse("0000:00:1f.0", &a), 0);
}
END_TEST

START_TEST(test_address_parse_rejects_function_above_7)
{
        VfptAddress a;

        ck_assert_int_eq(vfpt_address_parse("0000:00:00.8", &a), -EINVAL);
        ck_assert_int_eq(vfpt_address_parse("00:00.f", &a), -EINVAL);
        ck_assert_int_eq(vfpt_address_parse("0000:00:00.7", &a), 0);
}
END_TEST

static const char *const bad_addresses[] = {
        "0:3:0.0",          /* digit counts all wrong */
        "000:03:00.0",      /* 3-digit domain */
        "00000:03:00.0",    /* 5-digit domain */
        "0000:3:00.0",      /* 1-digit bus */
        "0000:003:00.0",    /* 3-digit bus */
        "0000:03:0.0",      /* 1-digit slot */
        "0000:03:000.0",    /* 3-digit slot */
        "0000:03:00.00",    /* 2-digit function */
        "0000:03:00.",      /* no function */
        "3:00.0",
        "03:00",            /* no function at all */
        "0000:03:00",
        "0000:03:00.0 ",    /* trailing junk */
        "0000:03:00.0x",
        "0000:03:00.0\n",
        "03:00.0:",
        " 0000:03:00.0",    /* leading junk */
        "0000-03-00.0",
        "0000:03.00.0",
        "0000:0g:00.0",     /* not hex */
        "*",
        "03:00.*",          /* a pattern is not an address */
        "0000:03:*.0",
        "",
        ":",
        "0000:0000:03:00.0",
};

START_TEST(test_address_parse_rejects_malformed)
{
        const char *s = bad_addresses[_i];
        VfptAddress a;

        ck_assert_msg(vfpt_address_parse(s, &a) == -EINVAL, "'%s' was accepted", s);
}
END_TEST

START_TEST(test_address_format_is_sysfs_form)
{
        char buf[VFPT_ADDRESS_MAX];
        VfptAddress a = { .domain = 0, .bus = 3, .slot = 0, .function = 0 };

        vfpt_address_format(&a, buf);
        ck_assert_str_eq(buf, "0000:03:00.0");

        a = (VfptAddress) { .domain = 0xabcd, .bus = 0xef, .slot = 0x1f, .function = 7 };
        vfpt_address_format(&a, buf);
        ck_assert_str_eq(buf, "abcd:ef:1f.7");
}
END_TEST

START_TEST(test_address_format_roundtrips_short_and_uppercase_input)
{
        char buf[VFPT_ADDRESS_MAX];
        VfptAddress a = parse_ok("0A:1F.3");

        vfpt_address_format(&a, buf);
        ck_assert_str_eq(buf, "0000:0a:1f.3");

        a = parse_ok(buf);
        assert_address(&a, 0, 0x0a, 0x1f, 3);
}
END_TEST

START_TEST(test_address_compare_orders_domain_bus_slot_function)
{
        /* Each pair differs in one field, the later field's difference
         * pointing the other way, so a comparison of the wrong field (or
         * in the wrong order) gives the wrong sign. */
        static const char *const ordered[] = {
                "0000:00:00.7",
                "0000:00:01.0",
                "0000:01:00.0",
                "0000:01:1f.7",
                "0000:ff:1f.7",
                "0001:00:00.0",
        };

        for (size_t i = 0; i < sizeof(ordered) / sizeof(ordered[0]); i++)
                for (size_t j = 0; j < sizeof(ordered) / sizeof(ordered[0]); j++) {
                        VfptAddress a = parse_ok(ordered[i]), b = parse_ok(ordered[j]);
                        int c = vfpt_address_compare(&a, &b);

                        if (i < j)
                                ck_assert_msg(c < 0, "%s vs %s gave %d", ordered[i], ordered[j], c);
                        else if (i > j)
                                ck_assert_msg(c > 0, "%s vs %s gave %d", ordered[i], ordered[j], c);
                        else
                                ck_assert_int_eq(c, 0);
                }
}
END_TEST

START_TEST(test_pattern_parse_function_wildcard)
{
        VfptAddressPattern p;

        ck_assert_int_eq(vfpt_address_pattern_parse("03:00.*", &p), 0);
        ck_assert(p.any_function);
        assert_address(&p.address, 0, 3, 0, p.address.function);

        ck_assert_int_eq(vfpt_address_pattern_parse("0001:03:1f.*", &p), 0);
        ck_assert(p.any_function);
        ck_assert_uint_eq(p.address.domain, 1);
        ck_assert_uint_eq(p.address.slot, 0x1f);
}
END_TEST

START_TEST(test_pattern_parse_exact_address_has_no_wildcard)
{
        VfptAddressPattern p;

        ck_assert_int_eq(vfpt_address_pattern_parse("0000:03:00.1", &p), 0);
        ck_assert(!p.any_function);
        assert_address(&p.address, 0, 3, 0, 1);
}
END_TEST

static const char *const bad_patterns[] = {
        "*",
        "03:*.*",
        "0000:*:00.0",
        "*:03:00.0",
        "03:00.**",
        "03:00.*1",
        "03:00.8",
        "03:20.*",
        "0:3:0.*",
        "03:00.* ",
        "",
};

START_TEST(test_pattern_parse_rejects_wildcards_outside_function)
{
        const char *s = bad_patterns[_i];
        VfptAddressPattern p;

        ck_assert_msg(vfpt_address_pattern_parse(s, &p) == -EINVAL, "'%s' was accepted", s);
}
END_TEST

START_TEST(test_pattern_wildcard_matches_every_function_of_the_slot_only)
{
        VfptAddressPattern p;
        VfptAddress a;

        ck_assert_int_eq(vfpt_address_pattern_parse("0000:03:00.*", &p), 0);
        for (unsigned f = 0; f < 8; f++) {
                a = (VfptAddress) { .domain = 0, .bus = 3, .slot = 0, .function = (uint8_t) f };
                ck_assert(vfpt_address_pattern_match(&p, &a));
        }
        a = parse_ok("0000:03:01.0");
        ck_assert(!vfpt_address_pattern_match(&p, &a));
        a = parse_ok("0000:04:00.0");
        ck_assert(!vfpt_address_pattern_match(&p, &a));
        a = parse_ok("0001:03:00.0");
        ck_assert(!vfpt_address_pattern_match(&p, &a));
}
END_TEST

START_TEST(test_pattern_exact_matches_only_that_function)
{
        VfptAddressPattern p;
        VfptAddress a;

        ck_assert_int_eq(vfpt_address_pattern_parse("03:00.1", &p), 0);
        a = parse_ok("0000:03:00.1");
        ck_assert(vfpt_address_pattern_match(&p, &a));
        a = parse_ok("0000:03:00.0");
        ck_assert(!vfpt_address_pattern_match(&p, &a));
        a = parse_ok("0001:03:00.1");
        ck_assert(!vfpt_address_pattern_match(&p, &a));
}
END_TEST

START_TEST(test_pattern_format_shows_wildcard)
{
        VfptAddressPattern p;
        char buf[VFPT_ADDRESS_MAX];

        ck_assert_int_eq(vfpt_address_pattern_parse("3A:1F.*", &p), 0);
        vfpt_address_pattern_format(&p, buf);
        ck_assert_str_eq(buf, "0000:3a:1f.*");

        ck_assert_int_eq(vfpt_address_pattern_parse("03:00.5", &p), 0);
        vfpt_address_pattern_format(&p, buf);
        ck_assert_str_eq(buf, "0000:03:00.5");
}
END_TEST

START_TEST(test_id_parse_exact_and_wildcard)
{
        VfptIdPattern p;

        ck_assert_int_eq(vfpt_id_pattern_parse("8086:1533", &p), 0);
        ck_assert_uint_eq(p.vendor, 0x8086);
        ck_assert_uint_eq(p.device, 0x1533);
        ck_assert(!p.any_device);

        ck_assert_int_eq(vfpt_id_pattern_parse("10de:*", &p), 0);
        ck_assert_uint_eq(p.vendor, 0x10de);
        ck_assert(p.any_device);

        ck_assert_int_eq(vfpt_id_pattern_parse("0000:0000", &p), 0);
        ck_assert_uint_eq(p.vendor, 0);
        ck_assert_uint_eq(p.device, 0);
}
END_TEST

START_TEST(test_id_parse_is_case_insensitive)
{
        VfptIdPattern p;

        ck_assert_int_eq(vfpt_id_pattern_parse("10DE:1B80", &p), 0);
        ck_assert_uint_eq(p.vendor, 0x10de);
        ck_assert_uint_eq(p.device, 0x1b80);
        ck_assert_int_eq(vfpt_id_pattern_parse("1aF4:*", &p), 0);
        ck_assert_uint_eq(p.vendor, 0x1af4);
}
END_TEST

static const char *const bad_ids[] = {
        "8086",
        "8086:",
        ":1533",
        "ffff:1234",   /* what config space reads when nothing answers */
        "FFFF:*",
        "808g:1234",
        "8086:15g3",
        "18086:1533",  /* 5-digit parts */
        "8086:15330",
        "808:1533",    /* 3-digit parts */
        "8086:153",
        "*:1533",
        "*",
        "8086:*1",
        "8086:**",
        "8086:1533 ",
        " 8086:1533",
        "8086:1533:0",
        "8086-1533",
        "0x8086:0x1533",
        "",
};

START_TEST(test_id_parse_rejects_malformed)
{
        const char *s = bad_ids[_i];
        VfptIdPattern p;

        ck_assert_msg(vfpt_id_pattern_parse(s, &p) == -EINVAL, "'%s' was accepted", s);
}
END_TEST

START_TEST(test_id_match_exact_needs_vendor_and_device)
{
        VfptIdPattern p;

        ck_assert_int_eq(vfpt_id_pattern_parse("8086:1533", &p), 0);
        ck_assert(vfpt_id_pattern_match(&p, 0x8086, 0x1533));
        ck_assert(!vfpt_id_pattern_match(&p, 0x8086, 0x1534));
        ck_assert(!vfpt_id_pattern_match(&p, 0x8087, 0x1533));
        ck_assert(!vfpt_id_pattern_match(&p, 0x1533, 0x8086));
}
END_TEST

START_TEST(test_id_match_wildcard_takes_any_device_of_the_vendor_only)
{
        VfptIdPattern p;

        ck_assert_int_eq(vfpt_id_pattern_parse("10de:*", &p), 0);
        ck_assert(vfpt_id_pattern_match(&p, 0x10de, 0x0000));
        ck_assert(vfpt_id_pattern_match(&p, 0x10de, 0x1b80));
        ck_assert(vfpt_id_pattern_match(&p, 0x10de, 0xffff));
        ck_assert(!vfpt_id_pattern_match(&p, 0x10df, 0x1b80));
        ck_assert(!vfpt_id_pattern_match(&p, 0x8086, 0x10de));
}
END_TEST

static Suite *address_suite(void) {
        Suite *s = suite_create("address");
        TCase *tc;

        tc = tcase_create("address");
        tcase_add_test(tc, test_address_parse_full_form_gives_each_field);
        tcase_add_test(tc, test_address_parse_short_form_means_domain_zero);
        tcase_add_test(tc, test_address_parse_hex_is_case_insensitive);
        tcase_add_test(tc, test_address_parse_rejects_slot_above_1f);
        tcase_add_test(tc, test_address_parse_rejects_function_above_7);
        tcase_add_loop_test(tc, test_address_parse_rejects_malformed, 0,
                            (int) (sizeof(bad_addresses) / sizeof(bad_addresses[0])));
        tcase_add_test(tc, test_address_format_is_sysfs_form);
        tcase_add_test(tc, test_address_format_roundtrips_short_and_uppercase_input);
        tcase_add_test(tc, test_address_compare_orders_domain_bus_slot_function);
        suite_add_tcase(s, tc);

        tc = tcase_create("pattern");
        tcase_add_test(tc, test_pattern_parse_function_wildcard);
        tcase_add_test(tc, test_pattern_parse_exact_address_has_no_wildcard);
        tcase_add_loop_test(tc, test_pattern_parse_rejects_wildcards_outside_function, 0,
                            (int) (sizeof(bad_patterns) / sizeof(bad_patterns[0])));
        tcase_add_test(tc, test_pattern_wildcard_matches_every_function_of_the_slot_only);
        tcase_add_test(tc, test_pattern_exact_matches_only_that_function);
        tcase_add_test(tc, test_pattern_format_shows_wildcard);
        suite_add_tcase(s, tc);

        tc = tcase_create("id");
        tcase_add_test(tc, test_id_parse_exact_and_wildcard);
        tcase_add_test(tc, test_id_parse_is_case_insensitive);
        tcase_add_loop_test(tc, test_id_parse_rejects_malformed, 0,
                            (int) (sizeof(bad_ids) / sizeof(bad_ids[0])));
        tcase_add_test(tc, test_id_match_exact_needs_vendor_and_device);
        tcase_add_test(tc, test_id_match_wildcard_takes_any_device_of_the_vendor_only);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(address_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
