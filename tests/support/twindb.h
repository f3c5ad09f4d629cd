/*
 * twindb.h - the projection's twins read back from PostgreSQL for tests:
 * the rows of table twins (migration 0009: device_id, version, last_seen,
 * state = the binary twin record, twin/record.h), fetched as binary results
 * and each record decoded with twin_record_view, so a test compares the
 * twin's fields (events, last sequence, first/last seen, every metric's
 * value, ts and statistics, the open minute, the sequence window, location,
 * attributes) with exact values instead of parsing JSON.
 *
 * Every row read is checked against its record: the record decodes, the
 * version column equals the record's events and last_seen its last_seen
 * (a test that reads twins checks the table's contract too).
 *
 * Ownership: struct twindb owns its rows and their state bytes; a row's
 * view (strings, metrics) points into them, valid until twindb_release.
 * Threads: a twindb belongs to one thread. Failures fail the test (Check).
 *
 *     struct twindb t;
 *     twindb_load(&t, db, "a-dev-%");              // LIKE pattern, NULL: every twin
 *     const struct twindb_row *r = twindb_find(&t, "a-dev-0001");
 *     const struct twin_view_metric *m = twindb_metric(&r->v, "speed_kmh");
 *     twindb_release(&t);
 */
#ifndef TP_TEST_TWINDB_H
#define TP_TEST_TWINDB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "twin/record.h"

struct twindb_row {
    char *device_id;
    int64_t version;      /* the row's version column */
    int64_t last_seen_ms; /* the row's last_seen column */
    uint8_t *state;       /* the record */
    size_t state_len;
    struct twin_view v; /* decoded: points into state and metrics */
    struct twin_view_metric *metrics;
};

struct twindb {
    struct twindb_row *rows; /* ordered by device_id as COLLATE "C" (strcmp) */
    size_t n;
};

/* Every twin whose device_id is LIKE like (NULL: all), decoded and checked (see above). */
void twindb_load(struct twindb *out, PGconn *db, const char *like);
void twindb_release(struct twindb *t);
/* The row of device_id, or NULL. Borrowed. */
const struct twindb_row *twindb_find(const struct twindb *t, const char *device_id);
/* The metric of a decoded twin by name, or NULL. Borrowed. */
const struct twin_view_metric *twindb_metric(const struct twin_view *v, const char *name);
/* Whether a record string equals s (an absent one equals NULL only). */
bool twindb_str_eq(struct twin_str a, const char *s);

/* One twin as a line of text: every field of the row and its record (metrics ordered by
 * name, doubles with 17 digits, the window in hex), ending in '\n'. Two twins with equal
 * lines hold exactly the same values. */
void twindb_row_text(const struct twindb_row *r, struct buf *out);
/* Every twin whose device_id is LIKE like (NULL: all) as twindb_row_text lines (out reset). */
void twindb_text(PGconn *db, const char *like, struct buf *out);

#endif
