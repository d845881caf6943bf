/* Leaves a required callback (get_order) NULL. */
#include "fixture.h"

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("null_callback");
    descriptor.get_order = NULL;
    *out = &descriptor;
    return BROKER_OK;
}
