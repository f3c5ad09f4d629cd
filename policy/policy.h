/*
 * policy.h - a level-of-detail policy: the model, the PUT body, the record.
 *
 * A policy (docs/decisions/regions.md, section 3) selects devices (attribute
 * equality or prefix on the Reading's model/firmware/region, device ids,
 * sites) and sets, while from <= t < until, a detail level (aggregates or
 * raw) and optionally the devices' reporting period.
 *
 * - policy_parse_body reads the body of PUT /v1/policies/{name}: hostile
 *   input, every limit checked before memory is spent (body size first,
 *   then each string's length and each list's count while lexing), every
 *   refusal a code of errors.h with a message naming the field.
 * - policy_record_write / policy_record_read are the compacted policies
 *   topic's value: canonical JSON of the body plus "v" (record version, 1),
 *   "name", "issued_at" (ms) and "revision". The key is the name; a
 *   tombstone (null value) deletes (set.h).
 *
 * struct policy is embedded by its owner (_init/_release); it owns its
 * strings. Pure code, no globals: any thread, one policy per thread at a time.
 *
 *     struct policy p;
 *     enum policy_error code;
 *     if (policy_parse_body(body, n, name, &lim, tp_now_ms(), &p, &code, msg, sizeof(msg)))
 *         answer 400 policy_error_code(code), msg;
 *     p.issued_at_ms = now; p.revision = prev + 1;
 *     policy_record_write(&p, &value); produce(key = p.name, value); policy_release(&p);
 */
#ifndef TP_POLICY_POLICY_H
#define TP_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "policy/errors.h"

#define POLICY_BODY_MAX       (64 * 1024)
#define POLICY_RECORD_MAX     (80 * 1024) /* a body's content plus the record's members */
#define POLICY_NAME_MAX       64
#define POLICY_VALUE_MAX      128
#define POLICY_DEVICE_ID_MAX  128
#define POLICY_MAX_DEVICE_IDS 10000
#define POLICY_MAX_SITES      64
#define POLICY_REPORT_MIN_MS  1000
#define POLICY_REPORT_MAX_MS  86400000
#define POLICY_RECORD_VERSION 1
#define POLICY_TIME_MIN_MS    0               /* 1970-01-01T00:00:00Z */
#define POLICY_TIME_MAX_MS    253402300799999 /* 9999-12-31T23:59:59.999Z */

enum policy_level { POLICY_LEVEL_AGGREGATES = 0, POLICY_LEVEL_RAW = 1 };

/* The Reading's attribute fields a condition may name (telemetry.proto 40-42). */
enum policy_attr {
    POLICY_ATTR_MODEL,
    POLICY_ATTR_FIRMWARE,
    POLICY_ATTR_REGION,
    POLICY_ATTR__COUNT
};

struct policy_cond {
    enum policy_attr attr;
    bool prefix; /* false: equality */
    char *value; /* 1..POLICY_VALUE_MAX bytes, NUL-terminated, owned */
    size_t len;
};

struct policy {
    char name[POLICY_NAME_MAX + 1];
    struct policy_cond conds[POLICY_ATTR__COUNT]; /* at most one per attribute, in enum order */
    size_t n_conds;
    char **device_ids; /* sorted (strcmp), unique, owned */
    size_t n_device_ids;
    char **sites; /* sorted, unique, owned */
    size_t n_sites;
    enum policy_level level;
    int64_t report_every_ms; /* 0: not given */
    int64_t from_ms;         /* active while from_ms <= t < until_ms */
    int64_t until_ms;
    int64_t issued_at_ms; /* record members; 0 in a parsed body */
    int64_t revision;
};

struct policy_limits {
    int64_t max_duration_ms; /* until - from at most this (policy.max_duration_s) */
};

void policy_init(struct policy *p);
void policy_release(struct policy *p);

/* Whether s[0..n) is a policy name: [A-Za-z0-9._-]{1,64}. Also a site's. */
bool policy_name_valid(const char *s, size_t n);
const char *policy_level_name(enum policy_level l);
const char *policy_attr_name(enum policy_attr a);

/* Parses a PUT body for the policy `name` (checked too). `from` defaults to
 * now_ms. On success fills *out (policy_init'ed here; the caller releases it
 * whatever the outcome). On refusal: TP_VALIDATION (TP_TOO_LARGE for the
 * body's size), *code set and errstr naming the field. */
enum tp_err policy_parse_body(const char *body, size_t n, const char *name,
                              const struct policy_limits *lim, int64_t now_ms, struct policy *out,
                              enum policy_error *code, char *errstr, size_t errstr_size);

/* The record value: canonical JSON, one line, members in a fixed order.
 * Appends to out (TP_TOO_LARGE if out's max is reached). */
enum tp_err policy_record_write(const struct policy *p, struct buf *out);

/* Reads a record value whose key is key[0..key_len). The duration limit is
 * not checked (it is the issuing service's rule and may have changed since);
 * everything else is, as for a body, plus the record members. Same outcome
 * convention as policy_parse_body (code INVALID_RECORD for the record's own
 * members). */
enum tp_err policy_record_read(const char *key, size_t key_len, const char *value, size_t n,
                               struct policy *out, enum policy_error *code, char *errstr,
                               size_t errstr_size);

/* RFC 3339 UTC text of ms ("2026-12-03T10:00:00Z", ".123" when ms % 1000),
 * and its reading (Z, z or +00:00/-00:00; 1-9 fraction digits, truncated to
 * ms). buf holds at least 32 bytes. */
void policy_time_format(int64_t ms, char *buf, size_t size);
bool policy_time_parse(const char *s, size_t n, int64_t *ms);

#endif
