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

START_TEST(paced_account_keeps_its_entry)
{
    locks *table = locks_create();
    ck_assert_ptr_nonnull(table);
    locks_account *account = NULL;
    ck_assert_int_eq(locks_acquire(table, "zerodha", "P", 0, &account), PTX_OK);
    locks_pace_wait(account, 1000);
    locks_pace_done(account, 1000);
    locks_release(table, account);
    /* The placement is recent, so the entry (and its pacing) is still there:
     * the next holder gets the same entry back. */
    locks_account *again = NULL;
    ck_assert_int_eq(locks_acquire(table, "zerodha", "P", 0, &again), PTX_OK);
    ck_assert_ptr_eq(again, account);
    locks_release(table, again);
    locks_destroy(table);
}
END_TEST

/* Accounts paced when released keep their entries for the pacing window
 * only: once it has passed, new accounts sweep them away even though they
 * never came back. */
START_TEST(paced_accounts_that_never_return_are_forgotten)
{
    locks *table = locks_create();
    ck_assert_ptr_nonnull(table);
    char account_id[32];
    locks_account *account = NULL;
    for (int i = 0; i < 20000; i++) {
        snprintf(account_id, sizeof account_id, "paced-%d", i);
        ck_assert_int_eq(locks_acquire(table, "zerodha", account_id, 0, &account), PTX_OK);
        locks_pace_wait(account, 10);
        locks_pace_done(account, 10);
        locks_release(table, account);
    }
    ck_assert_uint_eq(locks_count(table), 20000); /* within the window: all kept */
    retry_sleep_ms(1100);                         /* the pacing window passes */
    for (int i = 0; i < 3000; i++) {
        snprintf(account_id, sizeof account_id, "later-%d", i);
        ck_assert_int_eq(locks_acquire(table, "zerodha", account_id, 0, &account), PTX_OK);
        locks_release(table, account);
    }
    ck_assert_uint_eq(locks_count(table), 0);
    /* A held account survives a sweep. */
    locks_account *held = NULL;
    ck_assert_int_eq(locks_acquire(table, "zerodha", "held", 0, &held), PTX_OK);
    for (int i = 0; i < 3000; i++) {
        snprintf(account_id, sizeof account_id, "paced-again-%d", i);
        ck_assert_int_eq(locks_acquire(table, "zerodha", account_id, 0, &account), PTX_OK);
        locks_pace_wait(account, 10);
        locks_pace_done(account, 10);
        locks_release(table, account);
    }
    ck_assert_uint_eq(locks_count(table), 3001);
    locks_account *busy = NULL;
    ck_assert_int_eq(locks_acquire(table, "zerodha", "held", 0, &busy), PTX_BUSY);
    locks_release(table, held);
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
    tcase_add_test(tc, paced_account_keeps_its_entry);
    tcase_add_test(tc, paced_accounts_that_never_return_are_forgotten);
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
