/* Declares ABI 1.1 but the size of a 1.0 descriptor: smaller than declared. */
#include "fixture.h"

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("size_minor");
    descriptor.abi_minor = 1;
    descriptor.size = BROKER_PLUGIN_V1_0_SIZE;
    *out = &descriptor;
    return BROKER_OK;
}
