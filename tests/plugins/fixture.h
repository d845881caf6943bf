/* A minimal in-memory broker shared by the loader's fixture plugins. Each
 * fixture includes this file, builds the descriptor with fixture_descriptor()
 * and then breaks exactly one thing about it. Everything here is static, so
 * the fixture's only exported symbol stays broker_plugin_v1. */
#ifndef PTEXEC_TEST_FIXTURE_H
#define PTEXEC_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptexec/broker_plugin.h>

struct broker_instance {
    const broker_host_services *services;
    broker_host *host;
};

struct broker_session {
    int unused;
};

static const char *const fixture_config_keys[] = {"greeting", "fail_create", NULL};

static broker_status fixture_create(const broker_host_services *services, broker_host *host,
                                    broker_instance **instance, broker_text *error)
{
    const char *fail = services->config_get(host, "fail_create");
    if (fail != NULL && strcmp(fail, "yes") == 0) {
        snprintf(error->text, sizeof error->text, "fixture refused to start: fail_create is set");
        return BROKER_CONFIG;
    }
    broker_instance *created = calloc(1, sizeof *created);
    if (created == NULL)
        return BROKER_INTERNAL;
    created->services = services;
    created->host = host;
    const char *greeting = services->config_get(host, "greeting");
    unsigned long long first = (unsigned long long)services->random_u64(host);
    unsigned long long second = (unsigned long long)services->random_u64(host);
    services->log(host, BROKER_LOG_INFO, "created: greeting=%s random=%llu,%llu",
                  greeting ? greeting : "(none)", first, second);
    *instance = created;
    return BROKER_OK;
}

static void fixture_destroy(broker_instance *instance)
{
    free(instance);
}

static broker_status fixture_open_session(broker_instance *instance,
                                          const broker_credentials *credentials,
                                          broker_session **session, broker_text *account_id,
                                          broker_text *error)
{
    static broker_session shared;
    (void)instance;
    (void)credentials;
    (void)error;
    snprintf(account_id->text, sizeof account_id->text, "fixture-account");
    *session = &shared;
    return BROKER_OK;
}

static void fixture_close_session(broker_instance *instance, broker_session *session)
{
    (void)instance;
    (void)session;
}

static broker_status fixture_authenticate(broker_instance *instance, broker_session *session)
{
    (void)instance;
    (void)session;
    return BROKER_OK;
}

static broker_status fixture_get_holdings(broker_instance *instance, broker_session *session,
                                          broker_holding_fn emit, void *context)
{
    (void)instance;
    (void)session;
    emit(context, "RELIANCE", 10);
    return BROKER_OK;
}

static broker_status fixture_place_order(broker_instance *instance, broker_session *session,
                                         const broker_order_request *request, broker_order *order)
{
    (void)instance;
    (void)session;
    memset(order, 0, sizeof *order);
    snprintf(order->order_id, sizeof order->order_id, "F-%s", request->client_order_id);
    snprintf(order->client_order_id, sizeof order->client_order_id, "%s", request->client_order_id);
    snprintf(order->symbol, sizeof order->symbol, "%s", request->symbol);
    order->side = request->side;
    order->state = BROKER_ORDER_FILLED;
    order->quantity = request->quantity;
    order->filled_quantity = request->quantity;
    order->average_price = 100.0;
    return BROKER_OK;
}

static broker_status fixture_get_order(broker_instance *instance, broker_session *session,
                                       const char *order_id, broker_order *order)
{
    (void)instance;
    (void)session;
    (void)order_id;
    (void)order;
    return BROKER_NOT_FOUND;
}

static broker_status fixture_find_order(broker_instance *instance, broker_session *session,
                                        const char *client_order_id, broker_order *order)
{
    (void)instance;
    (void)session;
    (void)client_order_id;
    (void)order;
    return BROKER_NOT_FOUND;
}

static const char *fixture_errmsg(broker_instance *instance, broker_session *session)
{
    (void)instance;
    (void)session;
    return "";
}

/* A complete, valid v1.0 descriptor named `name`. */
static inline broker_plugin fixture_descriptor(const char *name)
{
    broker_plugin plugin = {
        .abi_major = BROKER_ABI_MAJOR,
        .abi_minor = BROKER_ABI_MINOR,
        .size = sizeof(broker_plugin),
        .name = name,
        .version = "0.0.1",
        .description = "loader test fixture",
        .capabilities = {.flags = 0,
                         .tag_min_length = 1,
                         .tag_max_length = 20,
                         .rate_limit_per_second = 7},
        .config_keys = fixture_config_keys,
        .create = fixture_create,
        .destroy = fixture_destroy,
        .open_session = fixture_open_session,
        .close_session = fixture_close_session,
        .authenticate = fixture_authenticate,
        .get_holdings = fixture_get_holdings,
        .place_order = fixture_place_order,
        .get_order = fixture_get_order,
        .find_order = fixture_find_order,
        .cancel_order = NULL,
        .get_quote = NULL,
        .errmsg = fixture_errmsg,
    };
    return plugin;
}

#endif
