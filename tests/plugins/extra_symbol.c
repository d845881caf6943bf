/* A valid plugin that exports a second dynamic symbol: loaded, with a warning. */
#include "fixture.h"

static broker_plugin descriptor;

BROKER_EXPORT int fixture_stray_export(void);
BROKER_EXPORT int fixture_stray_export(void)
{
    return 42;
}

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("extra_symbol");
    *out = &descriptor;
    return BROKER_OK;
}
