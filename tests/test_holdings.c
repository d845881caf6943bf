/* Check suite for host/holdings.c: the symbol → quantity map. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holdings.h"

START_TEST(test_set_get_contains)
{
    holdings *map = holdings_create(0);
    ck_assert_ptr_nonnull(map);
    ck_assert_uint_eq(holdings_count(map), 0);
    ck_assert_int_eq(holdings_get(map, "RELIANCE"), 0);
    ck_assert(!holdings_contains(map, "RELIANCE"));

    ck_assert(holdings_set(map, "RELIANCE", 10));
    ck_assert(holdings_set(map, "TCS", 0));
    ck_assert_int_eq(holdings_get(map, "RELIANCE"), 10);
    ck_assert(holdings_contains(map, "TCS"));
    ck_assert_int_eq(holdings_get(map, "TCS"), 0);
    ck_assert_uint_eq(holdings_count(map), 2);

    ck_assert(holdings_set(map, "RELIANCE", -3));
    ck_assert_int_eq(holdings_get(map, "RELIANCE"), -3);
    ck_assert_uint_eq(holdings_count(map), 2);
    ck_assert(!holdings_contains(map, "RELIANC"));
    ck_assert(!holdings_contains(map, "RELIANCEX"));
    holdings_free(map);
    holdings_free(NULL);
}
END_TEST

START_TEST(test_add_accumulates)
{
    holdings *map = holdings_create(4);
    ck_assert(holdings_add(map, "INFY", 8));
    ck_assert(holdings_add(map, "INFY", -3));
    ck_assert(holdings_add(map, "M&M", 2));
    ck_assert_int_eq(holdings_get(map, "INFY"), 5);
    ck_assert_int_eq(holdings_get(map, "M&M"), 2);
    ck_assert_uint_eq(holdings_count(map), 2);

    /* holdings_collect is the broker_holding_fn adapter: it adds. */
    broker_holding_fn emit = holdings_collect;
    ck_assert_int_eq(emit(map, "INFY", 1), 0);
    ck_assert_int_eq(emit(map, "TCS", 5), 0);
    ck_assert_int_eq(holdings_get(map, "INFY"), 6);
    ck_assert_int_eq(holdings_get(map, "TCS"), 5);
    holdings_free(map);
}
END_TEST

START_TEST(test_symbol_length_limits)
{
    holdings *map = holdings_create(1);
    char longest[BROKER_SYMBOL_MAX];
    memset(longest, 'A', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    ck_assert(holdings_set(map, longest, 7));
    ck_assert_int_eq(holdings_get(map, longest), 7);

    char too_long[BROKER_SYMBOL_MAX + 1];
    memset(too_long, 'B', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    ck_assert(!holdings_set(map, too_long, 1));
    ck_assert(!holdings_add(map, "", 1));
    ck_assert_int_ne(holdings_collect(map, too_long, 1), 0); /* stops the emitter */
    ck_assert_uint_eq(holdings_count(map), 1);
    holdings_free(map);
}
END_TEST

typedef struct visit_totals {
    size_t visited;
    int64_t sum;
    size_t stop_after;
} visit_totals;

static int visit_sum(void *context, const char *symbol, int64_t quantity)
{
    visit_totals *totals = context;
    ck_assert(symbol[0] == 'S');
    totals->visited++;
    totals->sum += quantity;
    return totals->stop_after != 0 && totals->visited >= totals->stop_after;
}

START_TEST(test_each_visits_all_and_stops)
{
    holdings *map = holdings_create(0);
    for (int i = 0; i < 100; i++) {
        char symbol[16];
        snprintf(symbol, sizeof symbol, "S%d", i);
        ck_assert(holdings_set(map, symbol, i));
    }
    visit_totals all = {0, 0, 0};
    holdings_each(map, visit_sum, &all);
    ck_assert_uint_eq(all.visited, 100);
    ck_assert_int_eq(all.sum, 4950);
    visit_totals some = {0, 0, 10};
    holdings_each(map, visit_sum, &some);
    ck_assert_uint_eq(some.visited, 10);
    holdings_free(map);
}
END_TEST

/* Grows from a tiny size hint to a million symbols; every one is found with
 * its own quantity and absent symbols stay absent. */
START_TEST(test_growth_to_a_million)
{
    enum { N = 1000000 };
    holdings *map = holdings_create(1);
    char symbol[BROKER_SYMBOL_MAX];
    for (int i = 0; i < N; i++) {
        snprintf(symbol, sizeof symbol, "SYM%07d", i);
        ck_assert(holdings_set(map, symbol, i));
    }
    ck_assert_uint_eq(holdings_count(map), N);
    for (int i = 0; i < N; i++) {
        snprintf(symbol, sizeof symbol, "SYM%07d", i);
        if (holdings_get(map, symbol) != i)
            ck_abort_msg("%s has %lld, expected %d", symbol, (long long)holdings_get(map, symbol),
                         i);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(symbol, sizeof symbol, "ABSENT%d", i);
        ck_assert(!holdings_contains(map, symbol));
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(symbol, sizeof symbol, "SYM%07d", i);
        ck_assert(holdings_add(map, symbol, 1));
    }
    ck_assert_uint_eq(holdings_count(map), N);
    ck_assert_int_eq(holdings_get(map, "SYM0000000"), 1);
    ck_assert_int_eq(holdings_get(map, "SYM0999999"), 999999);
    holdings_free(map);
}
END_TEST

static Suite *holdings_suite(void)
{
    Suite *suite = suite_create("holdings");
    TCase *basic = tcase_create("basic");
    tcase_set_timeout(basic, 10);
    tcase_add_test(basic, test_set_get_contains);
    tcase_add_test(basic, test_add_accumulates);
    tcase_add_test(basic, test_symbol_length_limits);
    tcase_add_test(basic, test_each_visits_all_and_stops);
    suite_add_tcase(suite, basic);
    TCase *large = tcase_create("large");
    tcase_set_timeout(large, 60);
    tcase_add_test(large, test_growth_to_a_million);
    suite_add_tcase(suite, large);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(holdings_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
