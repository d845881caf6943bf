/* Check suite for host/plan.c: holdings + target → ordered legs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* One expected leg: symbol, side ('B'/'S'), quantity, sequence. */
typedef struct expected_leg {
    const char *symbol;
    char side;
    int64_t quantity;
    size_t sequence;
} expected_leg;

typedef struct plan_case {
    const char *name;
    const char *holdings; /* "SYM:QTY,…" */
    const char *targets;  /* "SYM:QTY,…" in request order */
    expected_leg legs[8]; /* request order; terminated by a NULL symbol */
} plan_case;

static const plan_case plan_cases[] = {
    {"seed example",
     "RELIANCE:10,TCS:5,INFY:8",
     "RELIANCE:20,TCS:0",
     {{"RELIANCE", 'B', 10, 2}, {"TCS", 'S', 5, 1}, {NULL, 0, 0, 0}}},
    {"empty holdings buy everything",
     "",
     "A:1,B:2,C:3",
     {{"A", 'B', 1, 1}, {"B", 'B', 2, 2}, {"C", 'B', 3, 3}, {NULL, 0, 0, 0}}},
    {"zero deltas give no legs", "A:5,B:0", "A:5,B:0,C:0", {{NULL, 0, 0, 0}}},
    {"held but untargeted left alone", "A:5,B:7,C:9", "B:3", {{"B", 'S', 4, 1}, {NULL, 0, 0, 0}}},
    {"sells first, each group in request order",
     "A:10,B:10,C:10,D:10",
     "A:15,B:5,C:20,D:0,E:1",
     {{"A", 'B', 5, 3},
      {"B", 'S', 5, 1},
      {"C", 'B', 10, 4},
      {"D", 'S', 10, 2},
      {"E", 'B', 1, 5},
      {NULL, 0, 0, 0}}},
    {"only sells", "X:3,Y:4", "Y:0,X:1", {{"Y", 'S', 4, 1}, {"X", 'S', 2, 2}, {NULL, 0, 0, 0}}},
    {"large quantities", "BIG:1", "BIG:1000000000", {{"BIG", 'B', 999999999, 1}, {NULL, 0, 0, 0}}},
};

/* Parses "SYM:QTY,…" into a holdings map. */
static holdings *parse_holdings(const char *text)
{
    holdings *map = holdings_create(8);
    char *copy = strdup(text);
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        ck_assert_ptr_nonnull(colon);
        *colon = '\0';
        ck_assert(holdings_set(map, item, strtoll(colon + 1, NULL, 10)));
    }
    free(copy);
    return map;
}

/* Parses "SYM:QTY,…" into targets; returns the count. */
static size_t parse_targets(const char *text, exec_target *targets, size_t capacity)
{
    size_t count = 0;
    char *copy = strdup(text);
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        ck_assert_uint_lt(count, capacity);
        char *colon = strchr(item, ':');
        *colon = '\0';
        snprintf(targets[count].symbol, sizeof targets[count].symbol, "%s", item);
        targets[count++].target_quantity = strtoll(colon + 1, NULL, 10);
    }
    free(copy);
    return count;
}

START_TEST(test_plan_table)
{
    const plan_case *c = &plan_cases[_i];
    holdings *current = parse_holdings(c->holdings);
    exec_target targets[16];
    size_t count = parse_targets(c->targets, targets, 16);
    plan p;
    ptx_error error;
    ck_assert_int_eq(plan_build(current, targets, count, &p, &error), PTX_OK);

    size_t expected = 0;
    while (c->legs[expected].symbol != NULL)
        expected++;
    ck_assert_msg(p.count == expected, "%s: %zu legs, expected %zu", c->name, p.count, expected);
    for (size_t i = 0; i < expected; i++) {
        const plan_leg *leg = &p.legs[i];
        const expected_leg *want = &c->legs[i];
        ck_assert_msg(strcmp(targets[leg->target_index].symbol, want->symbol) == 0,
                      "%s: leg %zu is %s, expected %s", c->name, i,
                      targets[leg->target_index].symbol, want->symbol);
        ck_assert_int_eq(leg->side, want->side == 'B' ? BROKER_SIDE_BUY : BROKER_SIDE_SELL);
        ck_assert_int_eq(leg->quantity, want->quantity);
        ck_assert_msg(leg->sequence == want->sequence, "%s: %s sequence %zu, expected %zu", c->name,
                      want->symbol, leg->sequence, want->sequence);
        ck_assert_int_eq(leg->target, targets[leg->target_index].target_quantity);
        ck_assert_int_eq(leg->before, holdings_get(current, want->symbol));
        /* `order` is the inverse of `sequence`. */
        ck_assert_uint_eq(p.order[leg->sequence - 1], i);
    }
    plan_free(&p);
    plan_free(&p); /* safe on a freed (zeroed) plan */
    holdings_free(current);
}
END_TEST

START_TEST(test_duplicates_refused_naming_the_index)
{
    holdings *current = parse_holdings("A:1");
    exec_target targets[8];
    size_t count = parse_targets("A:2,B:3,C:4,B:5,A:0", targets, 8);
    plan p;
    ptx_error error;
    ck_assert_int_eq(plan_build(current, targets, count, &p, &error), PTX_INVALID);
    ck_assert_int_eq(error.status, PTX_INVALID);
    ck_assert_str_eq(error.field, "target_portfolio[3].symbol");
    ck_assert_ptr_nonnull(strstr(error.message, "duplicate"));
    ck_assert_ptr_nonnull(strstr(error.message, "B"));
    ck_assert_ptr_null(p.legs);
    ck_assert_uint_eq(p.count, 0);
    plan_free(&p);
    holdings_free(current);
}
END_TEST

START_TEST(test_empty_target_list)
{
    holdings *current = parse_holdings("A:1");
    plan p;
    ptx_error error;
    ck_assert_int_eq(plan_build(current, NULL, 0, &p, &error), PTX_OK);
    ck_assert_uint_eq(p.count, 0);
    plan_free(&p);
    holdings_free(current);
}
END_TEST

/* 100k targets against 100k holdings: every third symbol sells, every third
 * buys, every third is unchanged; sells come first, in request order. */
START_TEST(test_large_plan_is_consistent)
{
    enum { N = 100000 };
    holdings *current = holdings_create(N);
    exec_target *targets = calloc(N, sizeof *targets);
    for (size_t i = 0; i < N; i++) {
        snprintf(targets[i].symbol, sizeof targets[i].symbol, "S%06zu", i);
        ck_assert(holdings_set(current, targets[i].symbol, 100));
        targets[i].target_quantity = i % 3 == 0 ? 50 : i % 3 == 1 ? 150 : 100;
    }
    plan p;
    ptx_error error;
    ck_assert_int_eq(plan_build(current, targets, N, &p, &error), PTX_OK);
    size_t sells = (N + 2) / 3, buys = (N + 1) / 3;
    ck_assert_uint_eq(p.count, sells + buys);
    size_t previous_target = 0;
    for (size_t k = 0; k < p.count; k++) {
        const plan_leg *leg = &p.legs[p.order[k]];
        ck_assert_uint_eq(leg->sequence, k + 1);
        ck_assert_int_eq(leg->side, k < sells ? BROKER_SIDE_SELL : BROKER_SIDE_BUY);
        ck_assert_int_eq(leg->quantity, 50);
        if (k != 0 && k != sells)
            ck_assert_uint_gt(leg->target_index, previous_target);
        previous_target = leg->target_index;
    }
    for (size_t i = 1; i < p.count; i++)
        ck_assert_uint_gt(p.legs[i].target_index, p.legs[i - 1].target_index);
    plan_free(&p);
    free(targets);
    holdings_free(current);
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *suite = suite_create("plan");
    TCase *table = tcase_create("table");
    tcase_set_timeout(table, 10);
    tcase_add_loop_test(table, test_plan_table, 0, (int)(sizeof plan_cases / sizeof plan_cases[0]));
    tcase_add_test(table, test_duplicates_refused_naming_the_index);
    tcase_add_test(table, test_empty_target_list);
    suite_add_tcase(suite, table);
    TCase *large = tcase_create("large");
    tcase_set_timeout(large, 60);
    tcase_add_test(large, test_large_plan_is_consistent);
    suite_add_tcase(suite, large);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(plan_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
