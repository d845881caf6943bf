/* Its descriptor calls itself something other than its section. */
#include "fixture.h"

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("somebody_else");
    *out = &descriptor;
    return BROKER_OK;
}
