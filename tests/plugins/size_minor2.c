/* Declares ABI 1.2 but the size of a 1.1 descriptor: smaller than declared. */
#include "fixture.h"

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("size_minor2");
    descriptor.abi_minor = 2;
    descriptor.size = BROKER_PLUGIN_V1_1_SIZE;
    *out = &descriptor;
    return BROKER_OK;
}
