#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (max n bytes), or 0 if invalid. */
static size_t json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool json_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = json_utf8_len(p + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

enum tp_err json_strn(struct buf *b, const char *s, size_t n)
{
    enum tp_err err = buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (err == TP_OK && i < n) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            err = buf_append(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            char esc[8];
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (named)
                err = buf_append_str(b, named);
            else {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                err = buf_append(b, esc, 6);
            }
            i++;
        } else {
            size_t l = json_utf8_len(p + i, n - i);
            if (l == 0) {
                err = buf_append(b, "\xef\xbf\xbd", 3);
                i++;
            } else {
                err = buf_append(b, p + i, l);
                i += l;
            }
        }
    }
    if (err == TP_OK)
        err = buf_append(b, "\"", 1);
    return err;
}

enum tp_err json_str(struct buf *b, const char *s)
{
    return json_strn(b, s, strlen(s));
}

enum tp_err json_double(struct buf *b, double v)
{
    if (!isfinite(v))
        return buf_append_str(b, "null");
    if (v == 0 && signbit(v))
        return buf_append_str(b, "-0.0"); /* "-0" reads back as integer 0 in many parsers */
    /* Shortest of 15..17 significant digits that reads back exactly. */
    char tmp[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return buf_append_str(b, tmp);
}

enum tp_err json_i64(struct buf *b, int64_t v)
{
    return buf_printf(b, "%" PRId64, v);
}

enum tp_err json_error(struct buf *b, const char *code, const char *message)
{
    enum tp_err err = buf_append_str(b, "{\"error\":{\"code\":");
    if (err == TP_OK)
        err = json_str(b, code);
    if (err == TP_OK)
        err = buf_append_str(b, ",\"message\":");
    if (err == TP_OK)
        err = json_str(b, message);
    if (err == TP_OK)
        err = buf_append_str(b, "}}");
    return err;
}
