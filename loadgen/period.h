/*
 * period.h - the reporting period tp-loadgen's devices are told, and what
 * they did with it (loadgen.obey_period; docs/decisions/regions.md, "tp-loadgen
 * obeys").
 *
 * tp-ingest tells a device its period in the 202 body of an HTTP POST
 * (`"report_every_ms":N`, and for a batch of several devices
 * `"report_every_ms_by_device":{"veh-000003":1000}` for those whose period
 * differs: a device reads its own entry, else report_every_ms) and over MQTT
 * as `{"report_every_ms":N}` on twinpipe/v1/<device>/config. A value that is
 * not an integer in 1..PERIOD_MAX_MS is ignored (the device keeps its period).
 *
 * struct period_book keeps each device's period (starting at
 * loadgen.period_ms) and counts the changes for the summary: the devices that
 * changed at least once, the changes, the first change's time, per new
 * period the first time a device was told it, and at the end the devices per
 * period. Bounded: PERIOD_VALUES distinct periods are tracked, the rest
 * counted as "other".
 *
 * Object: struct period_book, embedded, owns its arrays. Threads: one owner.
 *
 *     period_book_init(&b, devices, 3000);
 *     int64_t p = period_from_body(doc, "veh-000003");   // 0: none
 *     if (p && period_book_set(&b, d, p, since_start_ms, unix_ms)) ... repace device d
 *     period_book_tally(&b); ... b.final[], b.told[] ...; period_book_release(&b);
 */
#ifndef TP_LOADGEN_PERIOD_H
#define TP_LOADGEN_PERIOD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERIOD_MAX_MS  86400000 /* loadgen.period_ms's bound */
#define PERIOD_VALUES  32       /* distinct periods tracked in the summary */
#define PERIOD_MSG_MAX 256      /* an MQTT config payload over this is ignored */

struct period_count {
    int64_t period_ms;
    uint64_t devices; /* final: devices with this period at the end; told: changes to it */
    int64_t first_ms; /* told: the first change to it, ms since the start */
    int64_t first_unix_ms;
};

struct period_book {
    size_t n;
    uint32_t *period_ms; /* [device] */
    uint8_t *changed;    /* [device] changed at least once */
    uint64_t devices_changed, changes;
    int64_t first_ms, first_unix_ms; /* the first change; -1: none */
    struct period_count told[PERIOD_VALUES];
    size_t n_told;
    uint64_t told_other; /* changes to a period past the PERIOD_VALUES tracked */
    struct period_count final[PERIOD_VALUES]; /* by period_book_tally, by period */
    size_t n_final;
    uint64_t final_other;
};

/* The period a 202 body (a jansson document; NULL: none) tells device: its entry in
 * report_every_ms_by_device, else report_every_ms; 0 when neither is a valid period. */
int64_t period_from_body(const json_t *doc, const char *device);
/* The period of an MQTT config payload {"report_every_ms":N}; 0 when not one. */
int64_t period_from_message(const uint8_t *payload, size_t len);

void period_book_init(struct period_book *b, size_t devices, int64_t period_ms);
void period_book_release(struct period_book *b);
/* Device d is told period_ms (1..PERIOD_MAX_MS) at at_ms since the start (wall clock
 * unix_ms): true when that changes its period (counted). */
bool period_book_set(struct period_book *b, size_t d, int64_t period_ms, int64_t at_ms,
                     int64_t unix_ms);
/* Fills final[] (ascending periods) from the devices' periods now. */
void period_book_tally(struct period_book *b);

#endif
