/* A valid plugin: loads, creates instances, logs through the host. */
#include "fixture.h"

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("good");
    *out = &descriptor;
    return BROKER_OK;
}
