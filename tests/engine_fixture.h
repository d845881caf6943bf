/* The engine over the five real simulated plugins, for the Check suites of
 * the engine's steps (lots, funds, order types): a brokers.ini in a
 * temporary folder, its registry and engine, requests written as
 * "SYMBOL:QTY,…", and look-ups into a result. */
#ifndef PTEXEC_TESTS_ENGINE_FIXTURE_H
#define PTEXEC_TESTS_ENGINE_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "registry.h"
#include "testutil.h"

static const char *const brokers[] = {"zerodha", "fyers", "angelone", "groww", "upstox"};
#define BROKER_COUNT (sizeof brokers / sizeof brokers[0])

typedef struct env {
    char *dir;
    char *ini;
    config cfg;
    registry *reg;
    engine *eng;
} env;

static inline void env_open(env *e, const char *broker_extra)
{
    memset(e, 0, sizeof *e);
    e->dir = tu_tempdir();
    e->ini = tu_write_ini(e->dir, broker_extra, NULL);
    ptx_error error;
    ck_assert_msg(config_load(e->ini, &e->cfg, &error) == PTX_OK, "config: %s", error.message);
    ck_assert_msg(registry_load(&e->cfg, &e->reg, &error) == PTX_OK, "registry: %s", error.message);
    e->eng = engine_create(e->reg, NULL);
    ck_assert_ptr_nonnull(e->eng);
}

static inline void env_close(env *e)
{
    engine_destroy(e->eng);
    registry_free(e->reg);
    config_free(&e->cfg);
    unlink(e->ini);
    rmdir(e->dir);
    free(e->ini);
    free(e->dir);
}

typedef struct test_request {
    exec_request request;
    broker_credential credentials[2];
    exec_target targets[8];
} test_request;

/* `targets` is "SYMBOL:QTY,…". */
static inline exec_request *make_request(test_request *t, const char *broker, const char *account,
                                  const char *targets, bool dry_run)
{
    memset(t, 0, sizeof *t);
    snprintf(t->request.broker, sizeof t->request.broker, "%s", broker);
    t->credentials[0] = (broker_credential){"api_key", account};
    t->credentials[1] = (broker_credential){"access_token", "demo"};
    t->request.credentials = t->credentials;
    t->request.credential_count = 2;
    t->request.dry_run = dry_run;
    char *copy = strdup(targets);
    size_t count = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        *colon = '\0';
        snprintf(t->targets[count].symbol, sizeof t->targets[count].symbol, "%s", item);
        t->targets[count++].target_quantity = strtoll(colon + 1, NULL, 10);
    }
    free(copy);
    t->request.targets = t->targets;
    t->request.target_count = count;
    return &t->request;
}

static inline void execute(env *e, const char *broker, const char *account, const char *targets,
                    bool dry_run, exec_result *result)
{
    test_request t;
    ptx_error error;
    ck_assert_msg(engine_execute(e->eng, make_request(&t, broker, account, targets, dry_run), NULL,
                                 result, &error) == PTX_OK,
                  "%s: %s", broker, error.message);
}

static inline const exec_leg *leg_of(const exec_result *result, const char *symbol)
{
    for (size_t i = 0; i < result->leg_count; i++)
        if (strcmp(result->legs[i].symbol, symbol) == 0)
            return &result->legs[i];
    ck_abort_msg("no leg %s", symbol);
    return NULL;
}

static inline const exec_position *position_of(const exec_result *result, const char *symbol)
{
    for (size_t i = 0; i < result->position_count; i++)
        if (strcmp(result->positions[i].symbol, symbol) == 0)
            return &result->positions[i];
    ck_abort_msg("no position %s", symbol);
    return NULL;
}

#endif
