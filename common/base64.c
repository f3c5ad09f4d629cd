#include "base64.h"

#include <stdbool.h>
#include <stdint.h>

static const char base64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char base64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Both alphabets; pad: '=' up to a multiple of 4. */
static size_t base64_enc(const unsigned char *in, size_t n, char *out, size_t out_size,
                         const char *chars, bool pad)
{
    size_t o = 0;
    if (out_size == 0)
        return 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t k = n - i;
        if (k > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (k > 2)
            v |= in[i + 2];
        size_t used = k >= 3 ? 4 : k + 1, total = pad ? 4 : used;
        if (o + total + 1 > out_size)
            return 0;
        for (size_t c = 0; c < total; c++)
            out[o++] = c < used ? chars[(v >> (18 - 6 * c)) & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static int base64_value(char c, char c62, char c63)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == c62)
        return 62;
    if (c == c63)
        return 63;
    return -1;
}

static long base64_dec(const char *in, size_t n, unsigned char *out, size_t out_size, char c62,
                       char c63)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = base64_value(in[i], c62, c63);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == out_size)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* the bits left over must be zero: one text per byte string */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

size_t base64url_encode(const unsigned char *in, size_t n, char *out, size_t out_size)
{
    return base64_enc(in, n, out, out_size, base64url_chars, false);
}

long base64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size)
{
    return base64_dec(in, n, out, out_size, '-', '_');
}

size_t base64_encode(const unsigned char *in, size_t n, char *out, size_t out_size)
{
    return base64_enc(in, n, out, out_size, base64_chars, true);
}

long base64_decode(const char *in, size_t n, unsigned char *out, size_t out_size)
{
    if (n % 4 != 0)
        return -1;
    size_t pad = 0;
    while (pad < 2 && pad < n && in[n - 1 - pad] == '=')
        pad++;
    return base64_dec(in, n - pad, out, out_size, '+', '/');
}
