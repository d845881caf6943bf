/* Notification sinks ([notify.*] sections). They receive outcomes, never
 * intents, and never credentials. */
#ifndef PTEXEC_NOTIFY_H
#define PTEXEC_NOTIFY_H

#include "config.h"
#include "execution.h"
#include "status.h"

typedef struct notify notify;

/*
 * Creates the sinks configured in `cfg` ([notify.log] is the first kind; an
 * unknown kind is a PTX_CONFIG error naming FILE:LINE). Returns NULL with
 * *error set on failure. Main thread.
 */
notify *notify_create(const config *cfg, ptx_error *error);

/* Sends the summary of a finished execution to every sink: one line with the
 * execution id, broker, account hash, status and counts, then one line per
 * leg that was not FILLED, with its reason. A dry run (EXEC_PLANNED) is not
 * sent: sinks hear of outcomes, not intents. Any thread. */
void notify_execution(notify *notifier, const exec_result *result);

/* Flushes and frees the sinks; NULL is fine. Main thread. */
void notify_destroy(notify *notifier);

#endif
