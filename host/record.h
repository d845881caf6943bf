/* Record points of an execution (design §1 step 9): its begin, each leg
 * state and its finish go to the journal (when there is one) and the finish
 * to the notification sinks. The engine, the leg lifecycle and recovery
 * reach the journal's write side only through here. */
#ifndef PTEXEC_RECORD_H
#define PTEXEC_RECORD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "execution.h"
#include "journal.h"
#include "notify.h"
#include "status.h"

#define RECORD_MESSAGE_MAX 512

typedef struct record record;

/* One execution's records. Set up by record_begin / record_resume. The leg
 * functions (record_leg, record_sending) may be called from
 * several threads of the execution at once, each for legs of its own; the
 * others from the execution's thread alone. */
typedef struct record_run {
    record *owner;
    journal_run *journal; /* NULL when the execution is not journaled */
    exec_result *result;  /* the execution recorded */
    bool noop;            /* nothing to place: recorded whole at the finish */
    char key[REQUEST_IDEMPOTENCY_KEY_MAX];
    char request_hash[IDS_SHA256_HEX_MAX];
    atomic_bool broken;               /* a journal write failed: place nothing more */
    bool finish_failed;               /* its finish could not be recorded */
    pthread_mutex_t lock;             /* guards the first write of `message` */
    char message[RECORD_MESSAGE_MAX]; /* why it broke; set once, before `broken` */
} record_run;

/* Creates the record points over `records` (may be NULL: no journal) and
 * `notifier` (may be NULL); both borrowed. NULL on OOM. Main thread. */
record *record_create(journal *records, notify *notifier);

/* Frees it; no execution may be running. NULL is fine. */
void record_destroy(record *rec);

/* Sets the journal (borrowed, may be NULL) before the first execution.
 * Main thread. */
void record_set_journal(record *rec, journal *records);

/* The journal, or NULL. */
journal *record_journal(record *rec);

/* The process's owner mark for the journal's RUNNING rows. */
const char *record_owner(record *rec);

/* Marks the journal unusable (`message` says why, without secrets): every
 * execution that is not a dry run is then refused. Main thread. */
void record_set_unavailable(record *rec, const char *message);

/* PTX_OK when executions can be recorded; PTX_JOURNAL (journal_unavailable)
 * otherwise, before anything is placed. Also retries recording the ends that
 * an earlier journal failure left unrecorded. Any thread. */
ptx_status record_check(record *rec, ptx_error *error);

/* Begins recording `result` (its legs named, none placed): with a journal,
 * commits the intent of every leg. PTX_OK, PTX_CONFLICT (key taken by a
 * concurrent process) or PTX_JOURNAL (nothing stored, nothing may be
 * placed). `result` must outlive the run. */
ptx_status record_begin(record *rec, exec_result *result, const char *key, const char *request_hash,
                        record_run *run, ptx_error *error);

/* Resumes recording an execution already in the journal (recovery, settling);
 * `states` as journal_load gave them (may be NULL). */
ptx_status record_resume(record *rec, exec_result *result, const leg_state *states, record_run *run,
                         ptx_error *error);

/* Records `state` of `leg` (a leg of run->result), committed before it
 * returns. False when it could not be recorded: the run is then broken (logged with the client
 * order id) and nothing more may be placed. */
bool record_leg(record_run *run, exec_leg *leg, leg_state state, const char *detail);

/* Before a leg is sent: true when placing is safe (the intent is recorded
 * and no journal write of this run has failed); records SENDING. */
bool record_sending(record_run *run, exec_leg *leg);

/* Finishes the run: renders the response into result->response, records it
 * with `status` (logged loudly when it fails; retried before the next
 * execution) and tells the sinks. */
void record_finish(record_run *run, exec_status status);

/* Records the states settling added (see journal_settle); *remaining gets
 * how many legs are still unknown. */
void record_settle(record_run *run, size_t *remaining);

/* Ends the run; safe on a zeroed or ended run. */
void record_end(record_run *run);

#endif
