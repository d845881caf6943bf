/* Declares a descriptor smaller than v1.0: it stops before the callbacks. */
#include <stddef.h>

#include "fixture.h"

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("size_small");
    descriptor.size = (uint32_t)offsetof(broker_plugin, create);
    *out = &descriptor;
    return BROKER_OK;
}
