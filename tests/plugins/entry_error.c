/* The entry refuses to hand out a descriptor. */
#include "fixture.h"

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    *out = NULL;
    return BROKER_UNSUPPORTED;
}
