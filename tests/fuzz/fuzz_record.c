/*
 * fuzz_record - the twin record decoder (twin/record.c: twin_record_read and
 * twin_record_view) on bytes as a database could hand them over, and the
 * JSON writer (twin/render.c) on whatever the view accepts.
 *
 * Input: a record (any bytes).
 *
 * Checked: read and view agree (both TP_OK, or both TP_DECODE with the same
 * reason, which starts "invalid twin record: "); a refused read leaves the
 * twin as twin_new made it; an accepted record's view equals the read twin
 * field for field (doubles bit for bit), its strings lie inside the input
 * and hold no NUL; writing the read twin and reading that back gives the
 * same twin again (a record the reader accepts loses nothing when the
 * projector rewrites it); the rendered document is valid UTF-8 and one
 * object.
 */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "fuzz.h"
#include "twin/record.h"
#include "twin/render.h"

static struct twin_view_metric fuzz_metrics[TWIN_VIEW_METRICS_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void same_str(struct twin_str s, const char *interned, const uint8_t *data, size_t size)
{
    if (!s.p) {
        if (interned)
            abort();
        return;
    }
    if (!interned || strlen(interned) != s.len || memcmp(s.p, interned, s.len) ||
        memchr(s.p, 0, s.len) || s.p < (const char *)data ||
        s.p + s.len > (const char *)data + size)
        abort();
}

/* The same figures, doubles bit for bit, in a metric of a view or a twin (x) and a twin's. */
#define same_figures(x, y)                                                                         \
    do {                                                                                           \
        if ((x)->ts_ms != (y)->ts_ms || (x)->count != (y)->count || (x)->mcount != (y)->mcount)    \
            abort();                                                                               \
        const double xs_[] = {(x)->value, (x)->min,  (x)->max, (x)->sum,                           \
                              (x)->mmin,  (x)->mmax, (x)->msum};                                   \
        const double ys_[] = {(y)->value, (y)->min,  (y)->max, (y)->sum,                           \
                              (y)->mmin,  (y)->mmax, (y)->msum};                                   \
        if (memcmp(xs_, ys_, sizeof(xs_)))                                                         \
            abort();                                                                               \
    } while (0)

/* b equals a (both read from records). */
static void same_twin(const struct twin *a, const struct twin *b)
{
    if (a->first_seen_ms != b->first_seen_ms || a->last_seen_ms != b->last_seen_ms ||
        a->last_sequence != b->last_sequence || a->events != b->events ||
        a->seen[0] != b->seen[0] || a->seen[1] != b->seen[1] || a->minute_ms != b->minute_ms ||
        a->has_location != b->has_location || a->loc_mask != b->loc_mask ||
        a->location_ts_ms != b->location_ts_ms || a->model != b->model ||
        a->firmware != b->firmware || a->region != b->region || a->n_metrics != b->n_metrics ||
        memcmp(a->loc, b->loc, sizeof(a->loc)))
        abort();
    for (size_t i = 0; i < a->n_metrics; i++) {
        const struct twin_metric *x = &a->metrics[i], *y = &b->metrics[i];
        if (x->name != y->name)
            abort();
        same_figures(x, y);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char verr[256] = "", rerr[256] = "";
    struct twin_view v = {.metrics = fuzz_metrics, .cap_metrics = TWIN_VIEW_METRICS_MAX};
    enum tp_err ve = twin_record_view(&v, data, size, verr, sizeof(verr));
    struct twin *t = twin_new("fuzz");
    enum tp_err re = twin_record_read(t, data, size, rerr, sizeof(rerr));
    if (ve != re || strcmp(verr, rerr))
        abort();
    if (ve != TP_OK) {
        struct twin *fresh = twin_new("fuzz");
        if (ve != TP_DECODE || strncmp(verr, "invalid twin record: ", 21) || v.n_metrics ||
            v.metrics != fuzz_metrics)
            abort();
        same_twin(t, fresh);
        twin_free(fresh);
        twin_free(t);
        return 0;
    }

    if (v.version != TWIN_RECORD_VERSION || v.first_seen_ms != t->first_seen_ms ||
        v.last_seen_ms != t->last_seen_ms || v.last_sequence != t->last_sequence ||
        v.events != t->events || v.seen[0] != t->seen[0] || v.seen[1] != t->seen[1] ||
        v.minute_ms != t->minute_ms || v.has_location != t->has_location ||
        v.loc_mask != t->loc_mask || v.location_ts_ms != t->location_ts_ms ||
        memcmp(v.loc, t->loc, sizeof(v.loc)) || v.n_metrics != t->n_metrics)
        abort();
    same_str(v.model, t->model, data, size);
    same_str(v.firmware, t->firmware, data, size);
    same_str(v.region, t->region, data, size);
    for (size_t i = 0; i < v.n_metrics; i++) {
        const struct twin_view_metric *x = &v.metrics[i];
        const struct twin_metric *y = &t->metrics[i];
        same_str(x->name, y->name, data, size);
        if (x->count < 0 || (x->mcount != 0 && v.minute_ms == TWIN_NO_MINUTE))
            abort();
        same_figures(x, y);
    }

    /* rewritten, it reads back the same */
    uint8_t *p = malloc(twin_record_bound(t));
    size_t n = twin_record_write(p, t);
    struct twin *back = twin_new("fuzz");
    if (n > twin_record_bound(t) || twin_record_read(back, p, n, rerr, sizeof(rerr)) != TP_OK)
        abort();
    same_twin(t, back);
    twin_free(back);
    free(p);

    struct buf b;
    buf_init(&b, 64 << 20);
    if (twin_render_json(&b, "fuzz", 4, &v, v.last_seen_ms) != TP_OK || b.len < 2 ||
        b.data[0] != '{' || b.data[b.len - 1] != '}' || !json_utf8_valid(b.data, b.len) ||
        strlen(b.data) != b.len)
        abort();
    buf_release(&b);
    twin_free(t);
    return 0;
}
