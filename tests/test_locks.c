/* Check suite of host/locks.c: per-account serialization, and entries that
 * do not outlive their use. */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "locks.h"
#include "retry.h"

/* Bytes the heap hands out now (small blocks and mmapped ones). */
static size_t heap_in_use(void)
{
    struct mallinfo2 heap = mallinfo2();
    return heap.uordblks + heap.hblkhd;
}

START_TEST(same_account_is_exclusive_others_are_not)
{
    locks *table = locks_create();
    ck_assert_ptr_nonnull(table);
    locks_account *held = NULL, *other = NULL, *again = NULL;
    ck_assert_int_eq(locks_acquire(table, "zerodha", "A1", 0, &held), PTX_OK);
    ck_assert_int_eq(locks_acquire(table, "zerodha", "A1", 0, &again), PTX_BUSY);
    ck_assert_int_eq(locks_acquire(table, "zerodha", "A1", 20, &again), PTX_BUSY);
    /* Same account id at another broker, and another account: independent. */
    ck_assert_int_eq(locks_acquire(table, "fyers", "A1", 0, &other), PTX_OK);
    locks_release(table, other);
    ck_assert_int_eq(locks_acquire(table, "zerodha", "A2", 0, &other), PTX_OK);
    locks_release(table, other);
    locks_release(table, held);
    ck_assert_int_eq(locks_acquire(table, "zerodha", "A1", 0, &again), PTX_OK);
    locks_release(table, again);
    locks_destroy(table);
}
END_TEST

START_TEST(idle_accounts_are_forgotten)
{
    locks *table = locks_create();
    ck_assert_ptr_nonnull(table);
    char account_id[32];
    locks_account *account = NULL;
    for (int i = 0; i < 1000; i++) { /* warm the allocator up */
        snprintf(account_id, sizeof account_id, "warm-%d", i);
        ck_assert_int_eq(locks_acquire(table, "zerodha", account_id, 0, &account), PTX_OK);
        locks_release(table, account);
    }
    size_t before = heap_in_use();
    for (int i = 0; i < 100000; i++) {
        snprintf(account_id, sizeof account_id, "account-%d", i);
        ck_assert_int_eq(locks_acquire(table, "zerodha", account_id, 0, &account), PTX_OK);
        locks_release(table, account);
    }
    size_t after = heap_in_use();
    /* 100,000 kept entries would take several MB. */
    ck_assert_msg(after < before + 64 * 1024,
                  "heap grew from %zu to %zu bytes over 100000 accounts", before, after);
    locks_destroy(table);
}
END_TEST

static Suite *locks_suite(void)
{
    Suite *suite = suite_create("locks");
    TCase *tc = tcase_create("locks");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, same_account_is_exclusive_others_are_not);
    tcase_add_test(tc, idle_accounts_are_forgotten);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(locks_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
