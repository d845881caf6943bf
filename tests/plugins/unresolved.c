/* References a function nobody defines, so dlopen(RTLD_NOW) fails. */
#include "fixture.h"

extern int fixture_function_nobody_defines(void);

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    if (fixture_function_nobody_defines() != 0)
        return BROKER_INTERNAL;
    descriptor = fixture_descriptor("unresolved");
    *out = &descriptor;
    return BROKER_OK;
}
