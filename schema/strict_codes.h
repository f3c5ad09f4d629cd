/*
 * strict_codes.h - the codes strict.h's checks give, from one table, so a
 * caller translates them into its own error table (ingest/errors.h) with a
 * switch the compiler checks: a code added here without a row there does not
 * compile.
 *
 * Pure, header-only; any thread.
 *
 *     enum strict_code s;
 *     if (strict_code_parse(code, &s))
 *         switch (s) { case STRICT_INVALID_UTF8: ... }
 */
#ifndef TP_STRICT_CODES_H
#define TP_STRICT_CODES_H

#include <stdbool.h>
#include <string.h>

/* X(NAME, "code") */
#define STRICT_CODE_TABLE(X)                                                                       \
    X(INVALID_UTF8, "invalid_utf8")                                                                \
    X(EMBEDDED_NUL, "embedded_nul")                                                                \
    X(UNDEFINED_ENUM, "undefined_enum")                                                            \
    X(TOO_DEEP, "too_deep")                                                                        \
    X(INVALID_PROTOBUF, "invalid_protobuf")

enum strict_code {
#define STRICT_CODE_ENUM(name, code) STRICT_##name,
    STRICT_CODE_TABLE(STRICT_CODE_ENUM)
#undef STRICT_CODE_ENUM
        STRICT_CODE__COUNT
};

/* The stable code string (a static literal). */
static inline const char *strict_code_str(enum strict_code c)
{
    static const char *const codes[] = {
#define STRICT_CODE_STR(name, code) code,
        STRICT_CODE_TABLE(STRICT_CODE_STR)
#undef STRICT_CODE_STR
    };
    return (unsigned)c < STRICT_CODE__COUNT ? codes[c] : "";
}

/* The code of a string strict.h's functions gave; false for any other string. */
static inline bool strict_code_parse(const char *s, enum strict_code *out)
{
    for (int c = 0; c < STRICT_CODE__COUNT; c++)
        if (s && !strcmp(s, strict_code_str((enum strict_code)c))) {
            *out = (enum strict_code)c;
            return true;
        }
    return false;
}

#endif
