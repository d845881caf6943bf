/* Claims ABI major version 2. */
#include "fixture.h"

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("abi_major2");
    descriptor.abi_major = 2;
    *out = &descriptor;
    return BROKER_OK;
}
