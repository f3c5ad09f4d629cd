/*
 * validate.h - the rules a reading must satisfy before it is journaled.
 *
 * Checks: device_id present, 1..128 chars of [A-Za-z0-9._:-]; sequence
 * present and > 0; timestamp_ms present and within [now - max_past,
 * now + max_future]; every double measurement (typed fields, map values,
 * location) finite; location lat/lon in range; metric names 1..64 chars of
 * [A-Za-z0-9_.-] and at most max_metrics of them; attribute strings valid
 * UTF-8 without NUL and at most max_string bytes.
 *
 * A failure gives a reading row of errors.h (its code is shown to clients
 * in "rejected") and a human message. Pure; any thread.
 *
 *     enum ingest_error code;
 *     if (validate_reading(r, &limits, tp_now_ms(), &code, msg, sizeof(msg)) != TP_OK)
 *         reject(index, ingest_error_code(code), msg);
 */
#ifndef TP_VALIDATE_H
#define TP_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "errors.h"
#include "journal/journal.h"

#define VALIDATE_DEVICE_ID_MAX   128
#define VALIDATE_METRIC_NAME_MAX 64

struct validate_limits {
    int64_t max_past_ms;
    int64_t max_future_ms;
    size_t max_string;
    size_t max_metrics;
};

enum tp_err validate_reading(const journal_reading *r, const struct validate_limits *lim,
                             int64_t now_ms, enum ingest_error *code, char *msg, size_t msg_size);

#endif
