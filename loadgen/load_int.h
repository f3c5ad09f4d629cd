/*
 * load_int.h - what load.c shares with its transports (the HTTP loop in
 * load.c, the MQTT loop in mqtt.c) only: the run's state and the
 * transport-neutral steps (which device sends next, its next reading with
 * the bad ones, what an acknowledged reading means for its twin, the
 * per-second ticks and the progress line). Not for other modules.
 *
 * One thread: the one in load_run.
 *
 *     load_setup made l (fleet, expectations, scratch); a transport then loops:
 *     d = load_pick(l, idx, n_devs, &rr); load_reading(l, d, i, &item) -> l->ptrs[i];
 *     ... sent and acknowledged ...: load_settle(l, &item, rejected);
 *     load_check_stop, load_tick_close each second, load_progress.
 */
#ifndef TP_LOAD_INT_H
#define TP_LOAD_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "hist.h"
#include "journal/journal.h"
#include "load.h"
#include "pace.h"
#include "sim.h"

enum load_kind { LOAD_FRESH, LOAD_DUPLICATE, LOAD_OUT_OF_ORDER, LOAD_INVALID };

/* One reading sent: its device, kind, sequence and the values its twin must show. */
struct load_item {
    uint32_t dev;
    uint8_t kind;
    uint64_t seq;
    double values[LOAD_EXPECT_VALUES];
};

struct load_conn; /* load.c's HTTP connection */

struct load {
    const struct load_options *opt;
    struct load_result *res;
    CURLM *multi;            /* HTTP */
    struct load_conn *conns; /* HTTP */
    double *zipf_cdf;        /* over ranks 0 .. max devices per connection */
    size_t zipf_n;
    uint64_t rng;
    uint64_t generated; /* readings put into bodies (incl. bad ones) */
    unsigned bad_turn;
    struct pace pace; /* no period: one budget for all connections */
    bool paced;       /* rate or period set */
    int64_t t0_us;
    bool stop; /* no new requests */
    /* scratch for building one body */
    journal_reading *rs;
    journal_reading **ptrs;
    struct sim_storage *ss;
    /* the current second, and the current window of opt->window_s seconds */
    struct hist tick_hist, win_hist;
    struct load_tick tick;
    size_t cap_ticks;
    int64_t last_progress_us;
};

/* xorshift64*: uniform in [0, 1) */
double load_unit(struct load *l);
/* The next device of the connection holding devices idx, idx + connections, ... (n_devs of
 * them): round robin (*rr, the connection's rank) or Zipf-distributed ranks. */
size_t load_pick(struct load *l, size_t idx, size_t n_devs, size_t *rr);
/* Fills slot i of the scratch (l->rs[i], l->ptrs[i]) with a reading of device d, fresh or
 * bad (bad_pct), and *it with what was sent; counts the bad kinds; returns its kind. */
enum load_kind load_reading(struct load *l, size_t d, size_t i, struct load_item *it);
/* A reading acknowledged: accepted or rejected, and what its device's twin must now show. */
void load_settle(struct load *l, const struct load_item *it, bool rejected);
/* Stops new readings once the run's duration or readings are reached. */
void load_check_stop(struct load *l, int64_t now_us);
/* Closes the current second (t_s since the start); final: the run's last, partial one. */
void load_tick_close(struct load *l, double t_s, bool final);
/* The progress line (every second on a TTY, every 5 s otherwise, and the final one). */
void load_progress(struct load *l, int64_t now_us, bool final);

/* mqtt.c: checks the MQTT options (the URL, the descriptors the connections need, raising
 * the soft RLIMIT_NOFILE to the hard one) before anything is set up. */
enum tp_err load_mqtt_prepare(const struct load_options *o, char *errstr, size_t errstr_size);
/* mqtt.c: the run over MQTT, until stopped and every PUBLISH acknowledged or given up. */
void load_mqtt_loop(struct load *l);

#endif
