/*
 * verify.h - the end-to-end correctness check of a tp-loadgen run: every
 * device's twin, read through tp-query (GET /v1/devices/{id}), must show
 * exactly what the run expects (load.h's struct load_expect): the number of
 * fresh readings accepted (each applied once: duplicates and older
 * sequences ignored), the last sequence, and the last values of three
 * metrics. Devices whose requests failed without a clear answer
 * ("uncertain") must show at least that much.
 *
 * Waits for the projector: a twin behind the expectation is read again
 * until timeout_ms passes. Requests run concurrently (libcurl multi).
 * Threads: the calling thread only.
 */
#ifndef TP_VERIFY_H
#define TP_VERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "load.h"

struct verify_options {
    const char *base_url; /* tp-query, e.g. http://127.0.0.1:18081 */
    const char *token;    /* analyst API key, or NULL */
    int64_t timeout_ms;   /* how long twins may lag behind */
    unsigned parallel;    /* requests in flight */
    FILE *report;         /* mismatches are described here (the first 20) */
};

struct verify_result {
    uint64_t devices;    /* devices with an expectation */
    uint64_t ok;         /* equal in every checked field */
    uint64_t mismatched; /* caught up but different */
    uint64_t behind;     /* still behind when the time was up */
    uint64_t uncertain;  /* checked loosely (>=), and fine */
    uint64_t errors;     /* no twin could be read (HTTP or JSON errors) */
    double seconds;
};

enum tp_err verify_run(const struct verify_options *o, const struct load_result *res,
                       struct verify_result *out, char *errstr, size_t errstr_size);

#endif
