/* Check suite for host/ids.c: execution ids, client order ids, account
 * hashes. */
#include <check.h>
#include <sys/stat.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdings.h"
#include "ids.h"
#include "testutil.h"

START_TEST(test_execution_id_shape_and_uniqueness)
{
    char previous[IDS_EXECUTION_ID_MAX] = "";
    holdings *seen = holdings_create(2000);
    for (int i = 0; i < 2000; i++) {
        char id[IDS_EXECUTION_ID_MAX];
        ids_new_execution_id(id);
        ck_assert_uint_eq(strlen(id), 29);
        ck_assert(strncmp(id, "ex-", 3) == 0);
        for (const char *c = id + 3; *c; c++)
            ck_assert_msg(isdigit((unsigned char)*c) || isupper((unsigned char)*c), "%s", id);
        /* The time prefix never goes backwards. */
        if (previous[0] != '\0')
            ck_assert(strncmp(previous, id, 13) <= 0);
        ck_assert_msg(!holdings_contains(seen, id + 3), "duplicate %s", id);
        ck_assert(holdings_set(seen, id + 3, i));
        memcpy(previous, id, sizeof previous);
    }
    holdings_free(seen);
}
END_TEST

static void check_alnum(const char *text)
{
    for (const char *c = text; *c; c++)
        ck_assert_msg(isalnum((unsigned char)*c), "'%s' is not alphanumeric", text);
}

START_TEST(test_client_order_id_lengths)
{
    static const unsigned limits[][3] = {
        /* min, max, expected length */
        {8, 20, 20}, {1, 19, 19}, {0, 20, 20}, {1, 30, 20}, {8, 8, 8}, {0, 0, 20}, {24, 30, 24},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        char id[32];
        ids_client_order_id("ex-01ABCDEFGHJKMNPQRSTVWXYZ01", 7, limits[i][0], limits[i][1], id,
                            sizeof id);
        ck_assert_msg(strlen(id) == limits[i][2], "min %u max %u gave '%s'", limits[i][0],
                      limits[i][1], id);
        check_alnum(id);
    }
}
END_TEST

START_TEST(test_client_order_id_deterministic_and_distinct)
{
    char a[32], b[32], c[32];
    ids_client_order_id("ex-AAAA", 3, 8, 20, a, sizeof a);
    ids_client_order_id("ex-AAAA", 3, 8, 20, b, sizeof b);
    ids_client_order_id("ex-AAAB", 3, 8, 20, c, sizeof c);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
}
END_TEST

/* The leg part must be injective for at least two million legs, even with
 * the shortest tag a broker allows (8 characters). */
START_TEST(test_client_order_id_unique_per_leg)
{
    enum { LEGS = 2100000 };
    holdings *seen = holdings_create(LEGS);
    char id[32];
    for (size_t leg = 0; leg < LEGS; leg++) {
        ids_client_order_id("ex-01JTESTTESTTESTTESTTESTTE", leg, 8, 8, id, sizeof id);
        if (holdings_contains(seen, id))
            ck_abort_msg("leg %zu repeats client order id %s", leg, id);
        ck_assert(holdings_set(seen, id, 1));
    }
    holdings_free(seen);
}
END_TEST

/* The capacity re-pricing checks before it takes index + attempt × legs:
 * 36^5 for ids of five characters or more, fewer for shorter ones, and the
 * last index it allows still differs from the one before. */
START_TEST(test_client_order_id_capacity)
{
    ck_assert_uint_eq(ids_client_order_id_capacity(8, 20), 60466176u);
    ck_assert_uint_eq(ids_client_order_id_capacity(0, 0), 60466176u);
    ck_assert_uint_eq(ids_client_order_id_capacity(3, 3), 46656u);
    char last[32], before[32], wrapped[32], first[32];
    ids_client_order_id("ex-01JTESTTESTTESTTESTTESTTE", 46655, 3, 3, last, sizeof last);
    ids_client_order_id("ex-01JTESTTESTTESTTESTTESTTE", 46654, 3, 3, before, sizeof before);
    ids_client_order_id("ex-01JTESTTESTTESTTESTTESTTE", 46656, 3, 3, wrapped, sizeof wrapped);
    ids_client_order_id("ex-01JTESTTESTTESTTESTTESTTE", 0, 3, 3, first, sizeof first);
    ck_assert_str_ne(last, before);
    ck_assert_str_eq(wrapped, first); /* past the capacity ids repeat: hence the check */
}
END_TEST

START_TEST(test_account_hash)
{
    ids_key key, other;
    ids_key_from_text("installation one", &key);
    ids_key_from_text("installation two", &other);
    char a[IDS_ACCOUNT_HASH_MAX], b[IDS_ACCOUNT_HASH_MAX], c[IDS_ACCOUNT_HASH_MAX];
    ids_account_hash(&key, "zerodha", "AB1234", a);
    ids_account_hash(&key, "zerodha", "AB1234", b);
    ids_account_hash(&key, "fyers", "AB1234", c);
    ck_assert_uint_eq(strlen(a), 16);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    for (const char *p = a; *p; p++)
        ck_assert(isxdigit((unsigned char)*p) && !isupper((unsigned char)*p));
    /* The NUL separates the parts: "ab"+"c" differs from "a"+"bc". */
    ids_account_hash(&key, "ab", "c", a);
    ids_account_hash(&key, "a", "bc", b);
    ck_assert_str_ne(a, b);
    /* Another installation's key gives another hash, and neither is the
     * unsalted SHA-256("demo\0demo") that could be guessed offline. */
    ids_account_hash(&key, "demo", "demo", a);
    ids_account_hash(&other, "demo", "demo", b);
    ck_assert_str_ne(a, b);
    ck_assert_str_ne(a, "28008768e2f6d0cd");
    ck_assert_ptr_null(strstr(a, "demo"));
    /* HMAC-SHA256 under SHA-256("installation one"), first 8 bytes: stable */
    ck_assert_uint_eq(strlen(a), 16);
}
END_TEST

/* The key file: created 0600 with a random key, read back the same; a
 * file that is not a key is refused. */
START_TEST(test_account_key_file)
{
    char *dir = tu_tempdir();
    char *path = tu_format("%s/ptexec.key", dir);
    ids_key first, again;
    char why[256] = "";
    ck_assert_msg(ids_key_load(path, &first, why, sizeof why), "%s", why);
    struct stat info;
    ck_assert_int_eq(stat(path, &info), 0);
    ck_assert_int_eq(info.st_mode & 0777, 0600);
    ck_assert_msg(ids_key_load(path, &again, why, sizeof why), "%s", why);
    ck_assert_int_eq(memcmp(first.bytes, again.bytes, sizeof first.bytes), 0);
    tu_write_file(path, "not a key\n");
    ck_assert(!ids_key_load(path, &again, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "not an account hash key"));
    free(path);
    free(dir);
}
END_TEST

static Suite *ids_suite(void)
{
    Suite *suite = suite_create("ids");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, 60);
    tcase_add_test(core, test_execution_id_shape_and_uniqueness);
    tcase_add_test(core, test_client_order_id_lengths);
    tcase_add_test(core, test_client_order_id_deterministic_and_distinct);
    tcase_add_test(core, test_client_order_id_unique_per_leg);
    tcase_add_test(core, test_client_order_id_capacity);
    tcase_add_test(core, test_account_hash);
    tcase_add_test(core, test_account_key_file);
    suite_add_tcase(suite, core);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(ids_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
