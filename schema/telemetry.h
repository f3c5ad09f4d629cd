/*
 * telemetry.h - the schema library wired for twinpipe's telemetry: the
 * registry client of subject "<journal topic>-value" (Confluent's
 * TopicNameStrategy) whose run-time Readings keep the generated layout
 * (templates Reading and ReadingBatch), the config rows the services that
 * read telemetry share (url, HTTP Basic user and password, timeout, cache), and the journal decoder
 * that lets a consumer unpack each event with the descriptors of its own schema id.
 *
 * Ownership: the journal_decoder borrows the struct schemas; readings it
 * unpacks pin their schema until journal_event_release.
 * Threads: as schemas.h.
 *
 *     struct schemas *s = NULL;
 *     struct journal_decoder dec;
 *     telemetry_journal_attach(&cfg.registry, &jc, &s, &dec, errstr, n); // both of:
 *     telemetry_schemas_new(&cfg.registry, jc.topic, &s, errstr, n);   // NULL when unset
 *     if (s) { telemetry_journal_decoder(s, &dec); jc.decoder = &dec; }
 */
#ifndef TP_TELEMETRY_H
#define TP_TELEMETRY_H

#include <stddef.h>

#include "common/config.h"
#include "journal/journal.h"
#include "schemas.h"

struct telemetry_registry_settings {
    char *url;
    char *user;
    char *password;
    long long timeout_ms;
    long long cache_size;
};

#define TELEMETRY_REGISTRY_CONFIG_ENTRIES(type, member)                                            \
    CONFIG_ROW_STR("registry.url", type, member.url, NULL,                                         \
                   "tp-registry base URL; telemetry of every version registered under "            \
                   "<journal.topic>-value is understood (unset: only the built-in schema, "        \
                   "journal.schema_id)"),                                                          \
        CONFIG_ROW_STR("registry.user", type, member.user, NULL,                                   \
                       "HTTP Basic user at tp-registry (a read credential; also accepted as the "  \
                       "URL's user:password@)"),                                                   \
        CONFIG_ROW_STR("registry.password", type, member.password, NULL,                           \
                       "registry.user's password (never logged)"),                                 \
        CONFIG_ROW_MS("registry.timeout_ms", type, member.timeout_ms, "2000", 100, 60000,          \
                      "per registry request"),                                                     \
        CONFIG_ROW_INT("registry.cache_size", type, member.cache_size, "256", 1, 100000,           \
                       "schema versions kept in memory (LRU)")

/* *out stays NULL when st->url is unset or empty. Asks the registry once (schemas_check):
 * TP_CONFIG when it refuses the credentials (a service then refuses to start); a registry
 * that does not answer is only logged (events wait for it). */
enum tp_err telemetry_schemas_new(const struct telemetry_registry_settings *st, const char *topic,
                                  struct schemas **out, char *errstr, size_t errstr_size);
/* A journal decoder over s: events of registered versions unpack with their descriptors;
 * an id the registry does not have, or cannot be asked for, is the event's error (never
 * the built-in Reading; logged at most once a minute): see struct journal_decoder. A
 * credential the registry refuses (401/403, TP_CONFIG from schemas_get) comes back as TP_IO
 * with the library's message: retriable, so a consumer waits for an operator's fix rather
 * than dead-lettering the events. */
void telemetry_journal_decoder(struct schemas *s, struct journal_decoder *out);
/* A consumer's wiring: telemetry_schemas_new for jc->topic, then, when a registry is set,
 * telemetry_journal_decoder into *dec and jc->decoder = dec. *schemas (NULL without a
 * registry) is the caller's to schemas_free after the consumer; dec must outlive it too. */
enum tp_err telemetry_journal_attach(const struct telemetry_registry_settings *st,
                                     struct journal_config *jc, struct schemas **schemas,
                                     struct journal_decoder *dec, char *errstr, size_t errstr_size);

#endif
