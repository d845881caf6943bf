/* The plugin registry: brokers.ini → dlopen → ABI checks → one instance per
 * configured broker. */
#ifndef PTEXEC_REGISTRY_H
#define PTEXEC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include <ptexec/broker_plugin.h>

#include "config.h"
#include "status.h"

/* Largest max_in_flight a configuration may ask for. */
#define REGISTRY_MAX_IN_FLIGHT 256

/* Host-level keys of a [broker.NAME] section, with their defaults. */
typedef struct broker_settings {
    char mode[16];             /* "simulated" (default) or "live" */
    unsigned max_retries;      /* 3: retries of TRANSIENT failures per call */
    unsigned retry_base_ms;    /* 100: first backoff; doubles each retry, with jitter */
    unsigned retry_max_ms;     /* 5000: backoff ceiling */
    unsigned order_timeout_ms; /* 30000: how long an order is followed before FAILED */
    unsigned poll_interval_ms; /* 50: first get_order interval; grows to 1 s */
    /* Calls per rolling window per account, 0 = not paced. Each defaults to
     * the plugin's declared limit (ABI 1.2 get_rate_limits); without one,
     * orders/s to capabilities.rate_limit_per_second, reads/s to the
     * orders/s, per minute to 0. A brokers.ini key always wins. */
    unsigned rate_limit_per_second;      /* orders (place, cancel) per second */
    unsigned rate_limit_per_minute;      /* orders per minute */
    unsigned read_rate_limit_per_second; /* reads per second */
    unsigned read_rate_limit_per_minute; /* reads per minute */
    unsigned max_in_flight;              /* concurrent calls of one execution; 0: engine sizes */
    bool reject_unaffordable;            /* on_insufficient_funds = reject (default scale) */
    bool funds_pro_rata;                 /* funds_policy = pro_rata (default largest_first) */
    unsigned funds_margin_bps;           /* estimated charges and price move on a buy's value */
    bool limit_orders;                   /* order_type = limit (default market) */
    unsigned limit_offset_bps;           /* a limit's distance past the quote, towards a fill */
    unsigned reprice_attempts;           /* a limit's cancel-and-resubmit rounds (legs.c) */
} broker_settings;

#define REGISTRY_LIMIT_OFFSET_BPS 10 /* 0.1% */
#define REGISTRY_REPRICE_ATTEMPTS 2  /* order_timeout_ms in three slices */
#define REGISTRY_REPRICE_MAX 20
#define REGISTRY_FUNDS_MARGIN_BPS 50 /* 0.5%: delivery charges (~0.15%) and a price move */

typedef struct registry registry;
typedef struct registry_broker registry_broker;

/*
 * What a loaded plugin offers beyond ABI 1.0, decided once at load time from
 * its descriptor's abi_minor and size. A callback counts as present only when
 * it lies within the descriptor's size and is non-NULL; the descriptor that
 * registry_broker_plugin returns has every absent one NULL, so callers may
 * also test the pointer. A 1.0 plugin has abi_minor 0 and every flag false.
 */
typedef struct registry_features {
    unsigned abi_minor;          /* as the plugin declared it */
    bool place_order_ex;         /* exchange, product, type, price, validity */
    bool get_order_ex;           /* order detail with charges */
    bool get_positions;          /* settled / T1 / unsellable / today's trades */
    bool get_open_orders;        /* working orders of the account */
    bool get_funds;              /* cash available, margin used */
    bool get_instrument;         /* lots, ticks, freeze quantity, band, tradable */
    bool get_market_session;     /* open / closed / pre-open, next open and close */
    bool retry_after_ms;         /* a broker's retry-after hint after TRANSIENT */
    bool get_rate_limits;        /* 1.2: the limits the broker meters */
    bool parallel_session_calls; /* BROKER_CAP_PARALLEL_SESSION_CALLS */
} registry_features;

/*
 * Loads every [broker.*] section of `cfg`: finds the file in the folders of
 * cfg->plugin_path, in order (a symlink is followed; the link's folder, the
 * real file and the real file's folder must all not be group- or
 * world-writable, nor any folder searched before), checks permissions, probes the plugin in a child
 * process (so a crashing constructor cannot take the host down), dlopen()s it with RTLD_NOW |
 * RTLD_LOCAL, calls the entry, checks the ABI and creates the instance. A
 * refused plugin gets one log line "plugin FILE: refused at STAGE: REASON" and
 * never stops the others. Returns PTX_OK with *out set (even if some or all
 * were refused), or PTX_NOMEM. Main thread.
 */
ptx_status registry_load(const config *cfg, registry **out, ptx_error *error);

/* Destroys every instance and unloads the plugins (no dlclose under ASan).
 * Main thread, after every engine call has returned. */
void registry_free(registry *reg);

/* The broker configured as [broker.NAME] and loaded, or NULL. */
registry_broker *registry_find(registry *reg, const char *name);

/* Number of loaded brokers, and the i-th in file order. */
size_t registry_count(const registry *reg);
registry_broker *registry_at(registry *reg, size_t index);

/* Number of configured brokers that were refused. */
size_t registry_refused_count(const registry *reg);

/*
 * The i-th refusal, in file order (index < registry_refused_count): the
 * configured broker's NAME, and the text of its log line, "plugin FILE:
 * refused at STAGE: REASON". NULL when index is out of range. Valid until
 * registry_free.
 */
const char *registry_refused_name(const registry *reg, size_t index);
const char *registry_refused_message(const registry *reg, size_t index);

/* The refusal message of the configured broker `name`, or NULL when it was
 * loaded or is not configured. Valid until registry_free. */
const char *registry_find_refusal(const registry *reg, const char *name);

/* Accessors; valid until registry_free. registry_broker_plugin returns the
 * host's full-size copy of the descriptor: fields past the plugin's declared
 * size read as 0/NULL, so any 1.1 field may be read whatever the plugin's
 * minor version (call only what registry_broker_features says is there). */
const char *registry_broker_name(const registry_broker *broker);
const char *registry_broker_file(const registry_broker *broker);
const broker_plugin *registry_broker_plugin(const registry_broker *broker);
const registry_features *registry_broker_features(const registry_broker *broker);
broker_instance *registry_broker_instance(const registry_broker *broker);
const broker_settings *registry_broker_settings(const registry_broker *broker);

/*
 * Serializes plugin calls on `broker` as design §2.2 requires: a real lock
 * unless the plugin declares BROKER_CAP_CONCURRENT_SESSIONS, in which case the
 * host still serializes per session (the engine holds one session per
 * execution) and these are no-ops. Any thread.
 */
void registry_broker_enter(registry_broker *broker);
void registry_broker_leave(registry_broker *broker);

/*
 * Loads one plugin file for inspection (`ptexec plugin check`) without a
 * configuration: same checks and probe as registry_load, no instance. On
 * success *plugin points to the descriptor and *handle must be passed to
 * registry_unload_file. On failure error->message reads
 * "plugin FILE: refused at STAGE: REASON". Dynamic symbols other than
 * broker_plugin_v1 are warned about (one WARN line, the plugin still loads),
 * as at start-up. Main thread.
 */
ptx_status registry_open_file(const char *path, const broker_plugin **plugin, void **handle,
                              ptx_error *error);
void registry_unload_file(void *handle);

#endif
