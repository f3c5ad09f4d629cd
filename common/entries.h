/*
 * entries.h - config values that are lists of entries (API key digests, registry
 * credentials): a comma-separated list in one config value, or a file with one entry per
 * line ('#' starts a comment). Each entry is trimmed of blanks; empty ones are skipped.
 * The caller parses an entry; `where` names it for messages ("query.api_keys",
 * "\"/etc/keys\" line 3").
 *
 * Pure (a file is read once, whole lines of at most ENTRIES_LINE_MAX bytes); any thread.
 *
 *     static enum tp_err add(void *obj, const char *s, size_t n, const char *where, ...);
 *     entries_each_list(cfg.api_keys, "query.api_keys", add, keys, errstr, sizeof(errstr));
 *     entries_each_file(cfg.api_keys_file, add, keys, errstr, sizeof(errstr));
 *     if (!entries_hex32(s, digest)) ... // 64 hex characters -> 32 bytes
 */
#ifndef TP_ENTRIES_H
#define TP_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define ENTRIES_LINE_MAX 1024

/* Parses s[0..n) (trimmed, not empty); returns TP_CONFIG with errstr on a bad entry. */
typedef enum tp_err (*entries_fn)(void *arg, const char *s, size_t n, const char *where,
                                  char *errstr, size_t errstr_size);

/* Calls fn for each entry of the comma-separated list (NULL: none). */
enum tp_err entries_each_list(const char *list, const char *where, entries_fn fn, void *arg,
                              char *errstr, size_t errstr_size);
/* Calls fn for each line's entry of the file at path. */
enum tp_err entries_each_file(const char *path, entries_fn fn, void *arg, char *errstr,
                              size_t errstr_size);
/* Whether hex[0..64) are hexadecimal digits; if so, out holds their 32 bytes. */
bool entries_hex32(const char *hex, unsigned char out[32]);

#endif
