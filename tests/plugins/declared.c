/* An ABI 1.2 plugin that declares the limits its broker meters: orders
 * 9/s and 300/min, reads unmetered per second and 120/min. With
 * declare_fail = yes, get_rate_limits fails instead. */
#include "fixture.h"

static broker_plugin descriptor;

static broker_status declared_rate_limits(broker_instance *instance, broker_rate_limits *limits)
{
    const char *fail = instance->services->config_get(instance->host, "declare_fail");
    if (fail != NULL && strcmp(fail, "yes") == 0)
        return BROKER_INTERNAL;
    if (!BROKER_FITS(limits, broker_rate_limits, reads_per_minute))
        return BROKER_INTERNAL;
    limits->orders_per_second = 9;
    limits->orders_per_minute = 300;
    limits->reads_per_second = 0;
    limits->reads_per_minute = 120;
    return BROKER_OK;
}

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("declared");
    descriptor.get_rate_limits = declared_rate_limits;
    *out = &descriptor;
    return BROKER_OK;
}
