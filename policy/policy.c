/*
 * policy.c - the policy model, its JSON body and its record (policy.h).
 *
 * The reader is schema-directed: it lexes exactly the members the schema
 * defines and refuses anything else on sight, so it never skips unknown
 * values and its nesting is bounded by the schema (3 objects). Strings are
 * decoded into fixed stack buffers of their limit + 1; a longer string is
 * refused while it is lexed, before any allocation.
 */
#include "policy/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/mem.h"

/* ---- the error table ---- */

static const struct {
    unsigned status;
    const char *code;
    const char *when;
} error_rows[] = {
#define POLICY_ERROR_ROW(name, status, code, when) {status, code, when},
    POLICY_ERROR_TABLE(POLICY_ERROR_ROW)
#undef POLICY_ERROR_ROW
};

const char *policy_error_code(enum policy_error e)
{
    return (unsigned)e < POLICY_ERR__COUNT ? error_rows[e].code : "unknown";
}

unsigned policy_error_status(enum policy_error e)
{
    return (unsigned)e < POLICY_ERR__COUNT ? error_rows[e].status : 500;
}

const char *policy_error_when(enum policy_error e)
{
    return (unsigned)e < POLICY_ERR__COUNT ? error_rows[e].when : "unknown";
}

/* ---- names ---- */

static const char *const attr_names[POLICY_ATTR__COUNT] = {"model", "firmware", "region"};

const char *policy_attr_name(enum policy_attr a)
{
    return (unsigned)a < POLICY_ATTR__COUNT ? attr_names[a] : "unknown";
}

const char *policy_level_name(enum policy_level l)
{
    return l == POLICY_LEVEL_RAW ? "raw" : "aggregates";
}

static bool charset_valid(const char *s, size_t n, size_t max, bool colon)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || (colon && c == ':');
        if (!ok)
            return false;
    }
    return true;
}

bool policy_name_valid(const char *s, size_t n)
{
    return charset_valid(s, n, POLICY_NAME_MAX, false);
}

/* ---- lifecycle ---- */

void policy_init(struct policy *p)
{
    memset(p, 0, sizeof(*p));
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void policy_release(struct policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_conds; i++)
        free(p->conds[i].value);
    strv_free(p->device_ids, p->n_device_ids);
    strv_free(p->sites, p->n_sites);
    policy_init(p);
}

/* ---- time ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void policy_time_format(int64_t ms, char *buf, size_t size)
{
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned s = (unsigned)(rem / 1000), frac = (unsigned)(rem % 1000);
    if (frac)
        snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m, d, s / 3600,
                 s / 60 % 60, s % 60, frac);
    else
        snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d, s / 3600,
                 s / 60 % 60, s % 60);
}

static bool digits(const char *s, size_t n, unsigned *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return true;
}

bool policy_time_parse(const char *s, size_t n, int64_t *ms)
{
    unsigned y, mo, d, h, mi, se, frac = 0;
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t k = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == k || i - k > 9)
            return false;
        for (size_t j = 0; j < 3; j++)
            frac = frac * 10 + (k + j < i ? (unsigned)(s[k + j] - '0') : 0);
    }
    size_t zl = n - i;
    if (!((zl == 1 && (s[i] == 'Z' || s[i] == 'z')) ||
          (zl == 6 && (!memcmp(s + i, "+00:00", 6) || !memcmp(s + i, "-00:00", 6)))))
        return false;
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    int64_t days = days_from_civil(y, mo, d);
    *ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)se * 1000 + frac;
    return true;
}

/* ---- the lexer ---- */

struct lex {
    const char *p, *end, *base;
};

enum lex_rc { LEX_OK = 0, LEX_SYNTAX = -1, LEX_TOO_LONG = 1, LEX_NOT_INT = 2 };

static void lex_ws(struct lex *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
}

/* The next non-blank byte, not consumed; 0 at the end. */
static char lex_peek(struct lex *l)
{
    lex_ws(l);
    return l->p < l->end ? *l->p : 0;
}

static bool lex_eat(struct lex *l, char c)
{
    if (lex_peek(l) != c)
        return false;
    l->p++;
    return true;
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static void put(char *out, size_t cap, size_t *len, unsigned char c)
{
    if (*len < cap)
        out[*len] = (char)c;
    (*len)++;
}

/* A string into out[0..cap) (NUL-terminated, so out holds cap + 1): LEX_OK,
 * LEX_TOO_LONG when its decoded length exceeds cap (the string is consumed),
 * LEX_SYNTAX for bad JSON, invalid UTF-8 or a NUL. */
static int lex_string(struct lex *l, char *out, size_t cap, size_t *len)
{
    if (!lex_eat(l, '"'))
        return LEX_SYNTAX;
    size_t n = 0;
    for (;;) {
        if (l->p >= l->end)
            return LEX_SYNTAX;
        unsigned char c = (unsigned char)*l->p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return LEX_SYNTAX;
        if (c != '\\') {
            put(out, cap, &n, c);
            continue;
        }
        if (l->p >= l->end)
            return LEX_SYNTAX;
        c = (unsigned char)*l->p++;
        unsigned cp;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            put(out, cap, &n, c);
            continue;
        case 'b':
            put(out, cap, &n, '\b');
            continue;
        case 'f':
            put(out, cap, &n, '\f');
            continue;
        case 'n':
            put(out, cap, &n, '\n');
            continue;
        case 'r':
            put(out, cap, &n, '\r');
            continue;
        case 't':
            put(out, cap, &n, '\t');
            continue;
        case 'u':
            break;
        default:
            return LEX_SYNTAX;
        }
        if (l->end - l->p < 4 || hex4(l->p, &cp))
            return LEX_SYNTAX;
        l->p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return LEX_SYNTAX;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (l->end - l->p < 6 || l->p[0] != '\\' || l->p[1] != 'u' || hex4(l->p + 2, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                return LEX_SYNTAX;
            l->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0)
            return LEX_SYNTAX;
        if (cp < 0x80) {
            put(out, cap, &n, (unsigned char)cp);
        } else if (cp < 0x800) {
            put(out, cap, &n, (unsigned char)(0xC0 | cp >> 6));
            put(out, cap, &n, (unsigned char)(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            put(out, cap, &n, (unsigned char)(0xE0 | cp >> 12));
            put(out, cap, &n, (unsigned char)(0x80 | (cp >> 6 & 0x3F)));
            put(out, cap, &n, (unsigned char)(0x80 | (cp & 0x3F)));
        } else {
            put(out, cap, &n, (unsigned char)(0xF0 | cp >> 18));
            put(out, cap, &n, (unsigned char)(0x80 | (cp >> 12 & 0x3F)));
            put(out, cap, &n, (unsigned char)(0x80 | (cp >> 6 & 0x3F)));
            put(out, cap, &n, (unsigned char)(0x80 | (cp & 0x3F)));
        }
    }
    *len = n;
    if (n > cap)
        return LEX_TOO_LONG;
    out[n] = '\0';
    if (!json_utf8_valid(out, n))
        return LEX_SYNTAX;
    return LEX_OK;
}

/* A JSON number: LEX_OK with an integer in int64 range, LEX_NOT_INT for a
 * well-formed number that is not one (fraction, exponent, overflow). */
static int lex_int(struct lex *l, int64_t *v)
{
    lex_ws(l);
    const char *p = l->p;
    bool neg = p < l->end && *p == '-';
    if (neg)
        p++;
    if (p >= l->end || *p < '0' || *p > '9')
        return LEX_SYNTAX;
    bool overflow = false, integral = true;
    uint64_t u = 0;
    if (*p == '0') {
        p++;
    } else {
        while (p < l->end && *p >= '0' && *p <= '9') {
            unsigned dgt = (unsigned)(*p++ - '0');
            if (u > (UINT64_MAX - dgt) / 10)
                overflow = true;
            else
                u = u * 10 + dgt;
        }
    }
    if (p < l->end && *p == '.') {
        integral = false;
        p++;
        if (p >= l->end || *p < '0' || *p > '9')
            return LEX_SYNTAX;
        while (p < l->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < l->end && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < l->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= l->end || *p < '0' || *p > '9')
            return LEX_SYNTAX;
        while (p < l->end && *p >= '0' && *p <= '9')
            p++;
    }
    l->p = p;
    if (!integral || overflow || u > (uint64_t)INT64_MAX)
        return LEX_NOT_INT;
    *v = neg ? -(int64_t)u : (int64_t)u;
    return LEX_OK;
}

/* Members of an object: call after '{' was eaten. Returns 1 with the next key
 * (':' eaten), 0 at '}', LEX_SYNTAX. A key over 32 bytes is reported with
 * klen > 32 and an empty key (no member has such a name). */
#define KEY_MAX 32
static int lex_member(struct lex *l, bool *first, char key[KEY_MAX + 1])
{
    if (lex_eat(l, '}'))
        return 0;
    if (!*first && !lex_eat(l, ','))
        return LEX_SYNTAX;
    *first = false;
    size_t klen;
    int rc = lex_string(l, key, KEY_MAX, &klen);
    if (rc == LEX_TOO_LONG)
        key[0] = '\0';
    else if (rc != LEX_OK)
        return LEX_SYNTAX;
    if (!lex_eat(l, ':'))
        return LEX_SYNTAX;
    return 1;
}

/* ---- the schema-directed reader ---- */

struct reader {
    struct lex l;
    bool record; /* a topic record: "v", "name", "issued_at", "revision" allowed */
    struct policy *p;
    enum policy_error *code;
    char *errstr;
    size_t errstr_size;
    size_t cap_ids;
    size_t cap_sites;
};

static enum tp_err refuse(struct reader *r, enum policy_error code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum tp_err refuse(struct reader *r, enum policy_error code, const char *fmt, ...)
{
    *r->code = code;
    if (r->errstr && r->errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->errstr, r->errstr_size, fmt, ap);
        va_end(ap);
    }
    return code == POLICY_ERR_BODY_TOO_LARGE ? TP_TOO_LARGE : TP_VALIDATION;
}

static enum tp_err syntax(struct reader *r, const char *where)
{
    return refuse(r, POLICY_ERR_INVALID_JSON,
                  "body is not valid JSON at byte %zu (in %s): syntax, invalid UTF-8 or a NUL",
                  (size_t)(r->l.p - r->l.base), where);
}

/* The type check of a member's value: the JSON type a byte starts. */
static const char *json_type_of(char c)
{
    switch (c) {
    case '{':
        return "an object";
    case '[':
        return "an array";
    case '"':
        return "a string";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    default:
        return (c == '-' || (c >= '0' && c <= '9')) ? "a number" : NULL;
    }
}

static enum tp_err want(struct reader *r, char open, const char *field, const char *type)
{
    char c = lex_peek(&r->l);
    if (c == open)
        return TP_OK;
    const char *got = json_type_of(c);
    if (!got)
        return syntax(r, field);
    return refuse(r, POLICY_ERR_WRONG_TYPE, "%s must be %s, not %s", field, type, got);
}

static enum tp_err want_int(struct reader *r, const char *field, int64_t *v, bool *not_int)
{
    char c = lex_peek(&r->l);
    if (!(c == '-' || (c >= '0' && c <= '9'))) {
        const char *got = json_type_of(c);
        if (!got)
            return syntax(r, field);
        return refuse(r, POLICY_ERR_WRONG_TYPE, "%s must be a number, not %s", field, got);
    }
    int rc = lex_int(&r->l, v);
    if (rc == LEX_SYNTAX)
        return syntax(r, field);
    *not_int = rc == LEX_NOT_INT;
    return TP_OK;
}

/* A string member into buf[0..cap]; *too_long when longer (consumed). */
static enum tp_err want_string(struct reader *r, const char *field, char *buf, size_t cap,
                               size_t *len, bool *too_long)
{
    *len = 0;
    *too_long = false;
    enum tp_err e = want(r, '"', field, "a string");
    if (e != TP_OK)
        return e;
    int rc = lex_string(&r->l, buf, cap, len);
    if (rc == LEX_SYNTAX)
        return syntax(r, field);
    *too_long = rc == LEX_TOO_LONG;
    return TP_OK;
}

static enum tp_err dup_field(struct reader *r, const char *where, const char *key)
{
    return refuse(r, POLICY_ERR_DUPLICATE_FIELD, "%s%s is given twice", where, key);
}

static enum tp_err read_condition(struct reader *r, enum policy_attr a)
{
    const char *an = attr_names[a];
    enum tp_err e = want(r, '{', an, "an object");
    if (e != TP_OK)
        return e;
    r->l.p++;
    char key[KEY_MAX + 1], val[POLICY_VALUE_MAX + 1];
    bool first = true, have = false, prefix = false;
    size_t len = 0;
    int rc;
    while ((rc = lex_member(&r->l, &first, key)) == 1) {
        bool is_eq = !strcmp(key, "eq"), is_prefix = !strcmp(key, "prefix");
        if (!is_eq && !is_prefix)
            return refuse(r, POLICY_ERR_INVALID_CONDITION,
                          "selector.attributes.%s: a condition is {\"eq\": s} or {\"prefix\": s}",
                          an);
        if (have)
            return refuse(r, POLICY_ERR_INVALID_CONDITION,
                          "selector.attributes.%s: give one of eq or prefix, not both", an);
        bool too_long = false;
        char field[64];
        snprintf(field, sizeof(field), "selector.attributes.%s.%s", an, key);
        e = want_string(r, field, val, POLICY_VALUE_MAX, &len, &too_long);
        if (e != TP_OK)
            return e;
        if (too_long || len == 0)
            return refuse(r, POLICY_ERR_INVALID_VALUE, "%s must be 1..%d bytes, not %zu", field,
                          POLICY_VALUE_MAX, len);
        have = true;
        prefix = is_prefix;
    }
    if (rc < 0)
        return syntax(r, an);
    if (!have)
        return refuse(r, POLICY_ERR_INVALID_CONDITION,
                      "selector.attributes.%s: a condition is {\"eq\": s} or {\"prefix\": s}", an);
    struct policy_cond *c = &r->p->conds[r->p->n_conds++];
    c->attr = a;
    c->prefix = prefix;
    c->value = tp_strndup(val, len);
    c->len = len;
    return TP_OK;
}

static enum tp_err read_attributes(struct reader *r)
{
    enum tp_err e = want(r, '{', "selector.attributes", "an object");
    if (e != TP_OK)
        return e;
    r->l.p++;
    char key[KEY_MAX + 1];
    bool first = true;
    unsigned seen = 0;
    int rc;
    while ((rc = lex_member(&r->l, &first, key)) == 1) {
        int a = -1;
        for (int i = 0; i < POLICY_ATTR__COUNT; i++)
            if (!strcmp(key, attr_names[i]))
                a = i;
        if (a < 0)
            return refuse(r, POLICY_ERR_UNKNOWN_ATTRIBUTE,
                          "selector.attributes: \"%s\" is not an attribute (model, firmware, "
                          "region)",
                          key);
        if (seen & 1u << a)
            return dup_field(r, "selector.attributes.", key);
        seen |= 1u << a;
        e = read_condition(r, (enum policy_attr)a);
        if (e != TP_OK)
            return e;
    }
    if (rc < 0)
        return syntax(r, "selector.attributes");
    /* canonical order: by attribute (one condition each) */
    struct policy *p = r->p;
    for (size_t i = 1; i < p->n_conds; i++)
        for (size_t j = i; j > 0 && p->conds[j - 1].attr > p->conds[j].attr; j--) {
            struct policy_cond t = p->conds[j];
            p->conds[j] = p->conds[j - 1];
            p->conds[j - 1] = t;
        }
    return TP_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and drops repeats. */
static size_t strv_unique(char **v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof(*v), cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(v[i], v[k - 1]))
            free(v[i]);
        else
            v[k++] = v[i];
    }
    return k;
}

/* device_ids (ids) or sites (!ids). */
static enum tp_err read_list(struct reader *r, bool ids)
{
    const char *field = ids ? "selector.device_ids" : "selector.sites";
    size_t max_n = ids ? POLICY_MAX_DEVICE_IDS : POLICY_MAX_SITES;
    size_t max_len = ids ? POLICY_DEVICE_ID_MAX : POLICY_NAME_MAX;
    enum policy_error too_many = ids ? POLICY_ERR_TOO_MANY_DEVICE_IDS : POLICY_ERR_TOO_MANY_SITES;
    enum policy_error invalid = ids ? POLICY_ERR_INVALID_DEVICE_ID : POLICY_ERR_INVALID_SITE;
    char ***v = ids ? &r->p->device_ids : &r->p->sites;
    size_t *n = ids ? &r->p->n_device_ids : &r->p->n_sites;
    size_t *cap = ids ? &r->cap_ids : &r->cap_sites;
    enum tp_err e = want(r, '[', field, "an array");
    if (e != TP_OK)
        return e;
    r->l.p++;
    if (!lex_eat(&r->l, ']')) {
        do {
            char s[POLICY_DEVICE_ID_MAX + 1];
            size_t len = 0;
            bool too_long = false;
            e = want_string(r, field, s, max_len, &len, &too_long);
            if (e != TP_OK)
                return e;
            if (too_long || !charset_valid(s, len, max_len, ids))
                return refuse(r, invalid, "%s[%zu] is not 1..%zu characters of A-Z a-z 0-9 . _ %s-",
                              field, *n, max_len, ids ? ": " : "");
            if (*n == max_n)
                return refuse(r, too_many, "%s holds more than %zu entries", field, max_n);
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 16;
                if (*cap > max_n)
                    *cap = max_n;
                *v = tp_realloc(*v, *cap * sizeof(**v));
            }
            (*v)[(*n)++] = tp_strndup(s, len);
        } while (lex_eat(&r->l, ','));
        if (!lex_eat(&r->l, ']'))
            return syntax(r, field);
    }
    *n = strv_unique(*v, *n);
    if (!ids && *n == 0)
        return refuse(r, POLICY_ERR_INVALID_SITE,
                      "selector.sites is empty: omit it for every site");
    return TP_OK;
}

static enum tp_err read_selector(struct reader *r)
{
    enum tp_err e = want(r, '{', "selector", "an object");
    if (e != TP_OK)
        return e;
    r->l.p++;
    char key[KEY_MAX + 1];
    bool first = true;
    unsigned seen = 0;
    int rc;
    while ((rc = lex_member(&r->l, &first, key)) == 1) {
        unsigned bit;
        if (!strcmp(key, "attributes"))
            bit = 1;
        else if (!strcmp(key, "device_ids"))
            bit = 2;
        else if (!strcmp(key, "sites"))
            bit = 4;
        else
            return refuse(r, POLICY_ERR_UNKNOWN_FIELD,
                          "selector: unknown member \"%s\" (attributes, device_ids, sites)", key);
        if (seen & bit)
            return dup_field(r, "selector.", key);
        seen |= bit;
        e = bit == 1 ? read_attributes(r) : read_list(r, bit == 2);
        if (e != TP_OK)
            return e;
    }
    if (rc < 0)
        return syntax(r, "selector");
    if (r->p->n_conds == 0 && r->p->n_device_ids == 0)
        return refuse(r, POLICY_ERR_EMPTY_SELECTOR,
                      "selector needs at least one attribute condition or device id");
    return TP_OK;
}

enum member {
    M_SELECTOR,
    M_LEVEL,
    M_REPORT,
    M_FROM,
    M_UNTIL,
    M_V,
    M_NAME,
    M_ISSUED,
    M_REVISION,
    M__COUNT
};
static const char *const member_names[M__COUNT] = {
    "selector", "level", "report_every_ms", "from", "until", "v", "name", "issued_at", "revision"};

static enum tp_err read_time(struct reader *r, const char *field, int64_t *ms)
{
    char s[48];
    size_t len = 0;
    bool too_long = false;
    enum tp_err e = want_string(r, field, s, sizeof(s) - 1, &len, &too_long);
    if (e != TP_OK)
        return e;
    if (too_long || !policy_time_parse(s, len, ms) || *ms > POLICY_TIME_MAX_MS)
        return refuse(r, POLICY_ERR_INVALID_TIME,
                      "%s is not an RFC 3339 UTC time such as \"2026-12-03T10:00:00Z\"", field);
    return TP_OK;
}

static enum tp_err read_record_int(struct reader *r, const char *field, int64_t *v)
{
    bool not_int;
    enum tp_err e = want_int(r, field, v, &not_int);
    if (e != TP_OK)
        return e;
    if (not_int || *v < 0)
        return refuse(r, POLICY_ERR_INVALID_RECORD, "record: %s is not an integer >= 0", field);
    return TP_OK;
}

static enum tp_err read_member(struct reader *r, enum member m, size_t *name_len)
{
    struct policy *p = r->p;
    enum tp_err e;
    switch (m) {
    case M_SELECTOR:
        return read_selector(r);
    case M_LEVEL: {
        char s[16];
        size_t len = 0;
        bool too_long = false;
        e = want_string(r, "level", s, sizeof(s) - 1, &len, &too_long);
        if (e != TP_OK)
            return e;
        if (!too_long && !strcmp(s, "raw"))
            p->level = POLICY_LEVEL_RAW;
        else if (!too_long && !strcmp(s, "aggregates"))
            p->level = POLICY_LEVEL_AGGREGATES;
        else
            return refuse(r, POLICY_ERR_INVALID_LEVEL, "level must be \"aggregates\" or \"raw\"");
        return TP_OK;
    }
    case M_REPORT: {
        bool not_int;
        e = want_int(r, "report_every_ms", &p->report_every_ms, &not_int);
        if (e != TP_OK)
            return e;
        if (not_int || p->report_every_ms < POLICY_REPORT_MIN_MS ||
            p->report_every_ms > POLICY_REPORT_MAX_MS) {
            p->report_every_ms = 0;
            return refuse(r, POLICY_ERR_INVALID_REPORT_EVERY,
                          "report_every_ms must be an integer in %d..%d", POLICY_REPORT_MIN_MS,
                          POLICY_REPORT_MAX_MS);
        }
        return TP_OK;
    }
    case M_FROM:
        return read_time(r, "from", &p->from_ms);
    case M_UNTIL:
        return read_time(r, "until", &p->until_ms);
    case M_V: {
        int64_t v;
        e = read_record_int(r, "v", &v);
        if (e == TP_OK && v != POLICY_RECORD_VERSION)
            return refuse(r, POLICY_ERR_INVALID_RECORD, "record: version %lld is unknown (%d)",
                          (long long)v, POLICY_RECORD_VERSION);
        return e;
    }
    case M_NAME: {
        bool too_long = false;
        e = want_string(r, "name", p->name, POLICY_NAME_MAX, name_len, &too_long);
        if (e != TP_OK)
            return e;
        if (too_long || !policy_name_valid(p->name, *name_len)) {
            p->name[0] = '\0';
            return refuse(r, POLICY_ERR_INVALID_NAME,
                          "name is not 1..64 characters of A-Z a-z 0-9 . _ -");
        }
        return TP_OK;
    }
    case M_ISSUED:
        return read_record_int(r, "issued_at", &p->issued_at_ms);
    case M_REVISION:
        return read_record_int(r, "revision", &p->revision);
    default:
        return TP_OK;
    }
}

static enum tp_err read_policy(struct reader *r, int64_t now_ms, const struct policy_limits *lim)
{
    struct lex *l = &r->l;
    if (lex_peek(l) != '{')
        return refuse(r, POLICY_ERR_INVALID_JSON, "body is not a JSON object");
    l->p++;
    char key[KEY_MAX + 1];
    bool first = true;
    unsigned seen = 0;
    size_t name_len = 0;
    int rc;
    while ((rc = lex_member(l, &first, key)) == 1) {
        int m = -1;
        for (int i = 0; i < M__COUNT; i++)
            if (!strcmp(key, member_names[i]))
                m = i;
        if (m < 0 || (!r->record && m >= M_V))
            return refuse(r, POLICY_ERR_UNKNOWN_FIELD,
                          "unknown member \"%s\" (selector, level, report_every_ms, from, until)",
                          key);
        if (seen & 1u << m)
            return dup_field(r, "", key);
        seen |= 1u << m;
        enum tp_err e = read_member(r, (enum member)m, &name_len);
        if (e != TP_OK)
            return e;
    }
    if (rc < 0)
        return syntax(r, "the policy");
    if (lex_peek(l) != 0)
        return syntax(r, "after the object");
    if (r->record) {
        static const enum member need[] = {M_V, M_NAME, M_ISSUED, M_REVISION, M_FROM};
        for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
            if (!(seen & 1u << need[i]))
                return refuse(r, POLICY_ERR_INVALID_RECORD, "record: %s is missing",
                              member_names[need[i]]);
    }
    if (!(seen & 1u << M_SELECTOR))
        return refuse(r, POLICY_ERR_MISSING_SELECTOR, "selector is missing");
    if (!(seen & 1u << M_UNTIL))
        return refuse(r, POLICY_ERR_MISSING_UNTIL, "until is missing");
    if (!(seen & 1u << M_FROM))
        r->p->from_ms = now_ms;
    if (r->p->until_ms <= r->p->from_ms)
        return refuse(r, POLICY_ERR_UNTIL_NOT_AFTER_FROM, "until must be later than from");
    if (lim && r->p->until_ms - r->p->from_ms > lim->max_duration_ms)
        return refuse(r, POLICY_ERR_DURATION_TOO_LONG,
                      "until is more than %lld s (policy.max_duration_s) after from",
                      (long long)(lim->max_duration_ms / 1000));
    return TP_OK;
}

enum tp_err policy_parse_body(const char *body, size_t n, const char *name,
                              const struct policy_limits *lim, int64_t now_ms, struct policy *out,
                              enum policy_error *code, char *errstr, size_t errstr_size)
{
    struct reader r = {.l = {body, body + n, body},
                       .p = out,
                       .code = code,
                       .errstr = errstr,
                       .errstr_size = errstr_size};
    policy_init(out);
    *code = POLICY_ERR_NONE;
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (n > POLICY_BODY_MAX)
        return refuse(&r, POLICY_ERR_BODY_TOO_LARGE, "body is %zu bytes, over %d", n,
                      POLICY_BODY_MAX);
    size_t name_len = name ? strlen(name) : 0;
    if (!policy_name_valid(name, name_len))
        return refuse(&r, POLICY_ERR_INVALID_NAME,
                      "name is not 1..64 characters of A-Z a-z 0-9 . _ -");
    memcpy(out->name, name, name_len + 1);
    static const struct policy_limits none = {INT64_MAX};
    return read_policy(&r, now_ms, lim ? lim : &none);
}

enum tp_err policy_record_read(const char *key, size_t key_len, const char *value, size_t n,
                               struct policy *out, enum policy_error *code, char *errstr,
                               size_t errstr_size)
{
    struct reader r = {.l = {value, value + n, value},
                       .record = true,
                       .p = out,
                       .code = code,
                       .errstr = errstr,
                       .errstr_size = errstr_size};
    policy_init(out);
    *code = POLICY_ERR_NONE;
    if (errstr && errstr_size)
        errstr[0] = '\0';
    if (n > POLICY_RECORD_MAX)
        return refuse(&r, POLICY_ERR_BODY_TOO_LARGE, "record is %zu bytes, over %d", n,
                      POLICY_RECORD_MAX);
    enum tp_err e = read_policy(&r, 0, NULL);
    if (e != TP_OK)
        return e;
    if (key_len != strlen(out->name) || memcmp(key, out->name, key_len))
        return refuse(&r, POLICY_ERR_INVALID_RECORD, "record: key is not the name \"%s\"",
                      out->name);
    return TP_OK;
}

/* ---- the record writer ---- */

static enum tp_err write_strv(struct buf *b, bool comma, const char *member, char **v, size_t n)
{
    enum tp_err e = buf_printf(b, "%s\"%s\":[", comma ? "," : "", member);
    for (size_t i = 0; i < n && e == TP_OK; i++) {
        if (i)
            e = buf_append(b, ",", 1);
        if (e == TP_OK)
            e = json_str(b, v[i]);
    }
    return e == TP_OK ? buf_append(b, "]", 1) : e;
}

enum tp_err policy_record_write(const struct policy *p, struct buf *out)
{
    char from[40], until[40];
    policy_time_format(p->from_ms, from, sizeof(from));
    policy_time_format(p->until_ms, until, sizeof(until));
    enum tp_err e = buf_printf(out, "{\"v\":%d,\"name\":", POLICY_RECORD_VERSION);
    if (e == TP_OK)
        e = json_str(out, p->name);
    if (e == TP_OK)
        e = buf_printf(out, ",\"issued_at\":%lld,\"revision\":%lld,\"selector\":{",
                       (long long)p->issued_at_ms, (long long)p->revision);
    bool any = false;
    if (e == TP_OK && p->n_conds) {
        e = buf_append_str(out, "\"attributes\":{");
        for (size_t i = 0; i < p->n_conds && e == TP_OK; i++) {
            const struct policy_cond *c = &p->conds[i];
            e = buf_printf(out, "%s\"%s\":{\"%s\":", i ? "," : "", attr_names[c->attr],
                           c->prefix ? "prefix" : "eq");
            if (e == TP_OK)
                e = json_strn(out, c->value, c->len);
            if (e == TP_OK)
                e = buf_append(out, "}", 1);
        }
        if (e == TP_OK)
            e = buf_append(out, "}", 1);
        any = true;
    }
    if (e == TP_OK && p->n_device_ids) {
        e = write_strv(out, any, "device_ids", p->device_ids, p->n_device_ids);
        any = true;
    }
    if (e == TP_OK && p->n_sites) {
        e = write_strv(out, any, "sites", p->sites, p->n_sites);
    }
    if (e == TP_OK)
        e = buf_printf(out, "},\"level\":\"%s\"", policy_level_name(p->level));
    if (e == TP_OK && p->report_every_ms)
        e = buf_printf(out, ",\"report_every_ms\":%lld", (long long)p->report_every_ms);
    if (e == TP_OK)
        e = buf_printf(out, ",\"from\":\"%s\",\"until\":\"%s\"}", from, until);
    return e;
}
