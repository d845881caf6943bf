/* Crashes in a constructor, before the host ever sees the entry. */
#include <signal.h>

#include "fixture.h"

__attribute__((constructor)) static void crash_on_load(void)
{
    raise(SIGSEGV);
}

static broker_plugin descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor = fixture_descriptor("crash_ctor");
    *out = &descriptor;
    return BROKER_OK;
}
