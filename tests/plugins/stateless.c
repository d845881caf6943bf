/* A broker that keeps nothing per account (tests/http_memory_test.sh): the
 * account id is the api_key credential, every account holds RELIANCE 10,
 * and every order fills at once. With it, server memory that grows with the
 * number of accounts is the host's, not the simulated exchange's. */
#include "fixture.h"

static broker_plugin descriptor;

static broker_status stateless_open_session(broker_instance *instance,
                                            const broker_credentials *credentials,
                                            broker_session **session, broker_text *account_id,
                                            broker_text *error)
{
    static broker_session shared;
    (void)instance;
    const char *api_key = NULL;
    for (size_t i = 0; i < credentials->count; i++)
        if (strcmp(credentials->items[i].key, "api_key") == 0)
            api_key = credentials->items[i].value;
    if (api_key == NULL) {
        snprintf(error->text, sizeof error->text, "api_key is required");
        return BROKER_AUTH;
    }
    snprintf(account_id->text, sizeof account_id->text, "%s", api_key);
    *session = &shared;
    return BROKER_OK;
}

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("stateless");
    descriptor.capabilities.rate_limit_per_second = 0;
    descriptor.open_session = stateless_open_session;
    *out = &descriptor;
    return BROKER_OK;
}
