/*
 * fuzz_policy - the policy library's readers of untrusted bytes
 * (policy/policy.c): the PUT body (policy_parse_body) and the policies
 * topic's record (policy_record_read), then policy/set.c with what passed.
 *
 * Input: a mode byte (bit 0: 0 = a body of the policy "p1", 1 = a record
 * whose key is "p1"), then the bytes.
 *
 * Checked: a refusal is TP_VALIDATION (TP_TOO_LARGE for the size) with a
 * code of the table (400 or 409) and a message; an accepted policy keeps the
 * model's invariants (name, conditions in attribute order of 1..128 bytes,
 * device ids and sites sorted and unique, until > from, level and period in
 * range); its record reads back to a policy whose record is the same bytes;
 * in a set, a device built from the policy's own selector matches it exactly
 * while from <= t < until, and the next change before from is from.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "fuzz.h"
#include "policy/set.h"

#define NOW 1796292000000LL

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void check_refusal(enum tp_err e, enum policy_error code, const char *msg)
{
    if (e != TP_VALIDATION && e != TP_TOO_LARGE)
        abort();
    if (code == POLICY_ERR_NONE || code >= POLICY_ERR__COUNT || !msg[0])
        abort();
    if ((e == TP_TOO_LARGE) != (code == POLICY_ERR_BODY_TOO_LARGE))
        abort();
    unsigned st = policy_error_status(code);
    if (st != 400 && st != 409)
        abort();
}

static void check_sorted(char **v, size_t n, size_t max_len)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (l == 0 || l > max_len)
            abort();
        if (i && strcmp(v[i - 1], v[i]) >= 0)
            abort();
    }
}

static void check_model(const struct policy *p)
{
    if (!policy_name_valid(p->name, strlen(p->name)))
        abort();
    if (p->n_conds > POLICY_ATTR__COUNT || (p->n_conds == 0 && p->n_device_ids == 0))
        abort();
    for (size_t i = 0; i < p->n_conds; i++) {
        const struct policy_cond *c = &p->conds[i];
        if (c->len == 0 || c->len > POLICY_VALUE_MAX || strlen(c->value) != c->len)
            abort();
        if (i && p->conds[i - 1].attr >= c->attr)
            abort();
    }
    check_sorted(p->device_ids, p->n_device_ids, POLICY_DEVICE_ID_MAX);
    check_sorted(p->sites, p->n_sites, POLICY_NAME_MAX);
    if (p->n_device_ids > POLICY_MAX_DEVICE_IDS || p->n_sites > POLICY_MAX_SITES)
        abort();
    if (p->until_ms <= p->from_ms || p->from_ms < 0 || p->until_ms > POLICY_TIME_MAX_MS)
        abort();
    if (p->level != POLICY_LEVEL_AGGREGATES && p->level != POLICY_LEVEL_RAW)
        abort();
    if (p->report_every_ms &&
        (p->report_every_ms < POLICY_REPORT_MIN_MS || p->report_every_ms > POLICY_REPORT_MAX_MS))
        abort();
}

/* The record of p reads back to a policy whose record is the same bytes; then the set. */
static void round_trip(const struct policy *p)
{
    struct buf a, b;
    buf_init(&a, POLICY_RECORD_MAX * 2);
    buf_init(&b, POLICY_RECORD_MAX * 2);
    if (policy_record_write(p, &a) != TP_OK)
        abort();
    struct policy q;
    enum policy_error code;
    char msg[512];
    size_t nl = strlen(p->name);
    if (policy_record_read(p->name, nl, a.data, a.len, &q, &code, msg, sizeof(msg)) != TP_OK)
        abort();
    check_model(&q);
    if (policy_record_write(&q, &b) != TP_OK || a.len != b.len || memcmp(a.data, b.data, a.len))
        abort();
    policy_release(&q);

    struct policy_set *s = policy_set_new(1);
    if (policy_set_apply(s, "policies", p->name, nl, a.data, a.len, &code, msg, sizeof(msg)) !=
        TP_OK)
        abort();
    struct policy_device d = {.id = p->n_device_ids ? p->device_ids[0] : NULL};
    for (size_t i = 0; i < p->n_conds; i++)
        d.attrs[p->conds[i].attr] = p->conds[i].value; /* a prefix matches itself */
    const char *site = p->n_sites ? p->sites[0] : "elsewhere";
    struct policy_effect e;
    policy_set_evaluate(s, site, &d, p->from_ms, 3000, &e, NULL, 0);
    if (e.matched != 1 || e.level != p->level ||
        e.report_every_ms != (p->report_every_ms ? p->report_every_ms : 3000) ||
        e.next_change_ms != p->until_ms)
        abort();
    policy_set_evaluate(s, site, &d, p->until_ms, 3000, &e, NULL, 0);
    if (e.matched != 0 || e.level != POLICY_LEVEL_AGGREGATES || e.report_every_ms != 3000)
        abort();
    if (p->from_ms > 0 && policy_set_next_change(s, p->from_ms - 1) != p->from_ms)
        abort();
    if (policy_set_apply(s, "policies", p->name, nl, NULL, 0, &code, msg, sizeof(msg)) != TP_OK ||
        policy_set_count(s) != 0)
        abort();
    policy_set_free(s);
    buf_release(&a);
    buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool record = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    struct policy p;
    enum policy_error code = POLICY_ERR__COUNT;
    char msg[512] = "";
    enum tp_err e;
    if (record) {
        e = policy_record_read("p1", 2, text, n, &p, &code, msg, sizeof(msg));
    } else {
        static const struct policy_limits lim = {7 * 86400000LL};
        e = policy_parse_body(text, n, "p1", &lim, NOW, &p, &code, msg, sizeof(msg));
    }
    if (e != TP_OK) {
        check_refusal(e, code, msg);
    } else {
        if (code != POLICY_ERR_NONE || strcmp(p.name, "p1"))
            abort();
        check_model(&p);
        if (!record && p.until_ms - p.from_ms > 7 * 86400000LL)
            abort();
        p.issued_at_ms = NOW;
        p.revision = 1;
        round_trip(&p);
    }
    policy_release(&p);
    return 0;
}
