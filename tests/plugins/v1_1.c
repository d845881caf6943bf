/* A plugin built for ABI 1.1: its descriptor ends at retry_after_ms, so it
 * has no get_rate_limits. */
#include "fixture.h"

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("v1_1");
    descriptor.abi_minor = 1;
    descriptor.size = BROKER_PLUGIN_V1_1_SIZE;
    *out = &descriptor;
    return BROKER_OK;
}
