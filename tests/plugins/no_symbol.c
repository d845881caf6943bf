/* Exports an entry under the wrong name: there is no broker_plugin_v1. */
#include "fixture.h"

static broker_plugin descriptor;

BROKER_EXPORT broker_status broker_plugin_v0(const broker_host_services *services,
                                             const broker_plugin **out);
BROKER_EXPORT broker_status broker_plugin_v0(const broker_host_services *services,
                                             const broker_plugin **out)
{
    (void)services;
    descriptor = fixture_descriptor("no_symbol");
    *out = &descriptor;
    return BROKER_OK;
}
