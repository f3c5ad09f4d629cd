/*
 * kconf.h - building an rd_kafka_conf_t from a journal_config (private to
 * journal/). Applies bootstrap servers, then the "kafka." passthrough keys,
 * then the role's forced settings; a passthrough key that tries to change a
 * forced setting is refused.
 *
 *     rd_kafka_conf_t *kc = kconf_new(cfg, forced, n_forced, errstr, size);
 */
#ifndef TP_KCONF_H
#define TP_KCONF_H

#include <librdkafka/rdkafka.h>

#include "journal.h"

struct kconf_setting {
    const char *key;
    const char *value;
};

/* NULL on error (errstr filled). */
rd_kafka_conf_t *kconf_new(const struct journal_config *cfg, const struct kconf_setting *forced,
                           size_t n_forced, char *errstr, size_t errstr_size);
/* librdkafka's log callback: its levels 0-3 as errors, 4-5 as warnings, the rest debug. */
void kconf_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
/* Translates a librdkafka error, keeping "retriable". */
enum tp_err kconf_err(rd_kafka_resp_err_t err);

#endif
