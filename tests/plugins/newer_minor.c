/* A plugin built against a future minor version: a larger descriptor with
 * an appended field. The host must accept it and ignore the tail. */
#include "fixture.h"

typedef struct newer_descriptor {
    broker_plugin v1_0;
    broker_status (*future_callback)(broker_instance *instance);
    uint64_t future_flags;
} newer_descriptor;

static newer_descriptor descriptor;

BROKER_PLUGIN_ENTRY(services, out)
{
    (void)services;
    descriptor.v1_0 = fixture_descriptor("newer_minor");
    descriptor.v1_0.abi_minor = BROKER_ABI_MINOR + 3;
    descriptor.v1_0.size = sizeof descriptor;
    descriptor.future_callback = NULL;
    descriptor.future_flags = 0xffffffffu;
    *out = &descriptor.v1_0;
    return BROKER_OK;
}
