/*
 * feed.h - the policies topics followed into one shared, immutable snapshot.
 *
 * Every component that obeys level-of-detail policies (tp-policy, tp-ingest,
 * tp-forward: docs/decisions/regions.md, section 3) reads `policy.topics`
 * the same way: each topic from its beginning with a journal follower
 * (journal/follow.h: no group, nothing committed), each record applied to a
 * policy_set (policy/set.h: a value upserts the entry of (topic, name), a
 * tombstone deletes it), and the readers -- HTTP threads, a forwarding loop --
 * see the set as an immutable snapshot that a change replaces as a whole.
 * The glue lives here, not in policy/ (pure: no Kafka, fuzzed) nor in each
 * service (three copies of the same threads and snapshot rules).
 *
 * - Snapshots are reference-counted: policy_feed_snapshot takes one
 *   reference under a short mutex (a pointer copy and an increment: no
 *   reader waits for a record being applied), policy_snapshot_release drops
 *   it; the last one frees it. A new snapshot is a policy_set_clone of the
 *   feed's own set (entries shared, nothing copied) made after each applied
 *   record, with a generation one higher.
 * - A record that does not read (policy_record_read), a new key past
 *   max_active, or one over POLICY_FEED_RECORD_MAX bytes is refused: logged,
 *   counted, the set unchanged (the previous value of its key stays).
 * - Ready once every topic was read up to its end at start
 *   (journal_follower_caught_up): a service answers /readyz 503 before, so a
 *   restarted ingest does not tell devices the default period.
 * - Expiry needs nothing here: evaluation is a pure function of the time
 *   (policy_set_evaluate); tp-policy tombstones expired policies itself.
 *
 * Object: struct policy_feed (heap, start/free); struct policy_snapshot
 * (opaque, counted). The topic names are copied; the kafka config is
 * borrowed and must outlive the feed. on_change runs on a follower thread after a new
 * snapshot is visible; it must not call policy_feed_free. Everything else:
 * any thread.
 *
 *     POLICY_FEED_CONFIG_ENTRIES(struct ingest_config, feed),     // config rows
 *     policy_feed_start_settings(&cfg.feed, &jc, NULL, NULL, &feed, errstr, n);
 *     (or policy_feed_start with a struct policy_feed_config of topic names)
 *     ready = policy_feed_ready(feed);                           // /readyz
 *     struct policy_snapshot *s = policy_feed_snapshot(feed);    // per request
 *     policy_set_evaluate(policy_snapshot_set(s), site, &dev, now, 3000, &eff, NULL, 0);
 *     policy_snapshot_release(s);
 *     policy_feed_free(feed);
 */
#ifndef TP_POLICYFEED_FEED_H
#define TP_POLICYFEED_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "journal/journal.h"
#include "policy/set.h"

#define POLICY_FEED_TOPICS_MAX 8
/* The largest record handed to the set: the name (key) and a full record value. */
#define POLICY_FEED_RECORD_MAX (POLICY_NAME_MAX + POLICY_RECORD_MAX)

struct policy_feed_config {
    const struct journal_config *kafka; /* bootstrap servers and kafka.* (its topic unused) */
    const char *const *topics;          /* 1..POLICY_FEED_TOPICS_MAX names (copied) */
    size_t n_topics;
    size_t max_active; /* policy.max_active: the set's bound (>= 1) */
    /* called after each new snapshot, on a follower thread; NULL: none */
    void (*on_change)(void *arg);
    void *arg;
};

struct policy_feed_stats {
    uint64_t records;    /* handed by the followers, every topic */
    uint64_t refused;    /* not applied: unreadable, over max_active, too large, no key */
    uint64_t generation; /* of the current snapshot: 0 before the first record */
    size_t policies;     /* entries of the current snapshot */
};

struct policy_feed;
struct policy_snapshot;

/*
 * The settings every consumer of policies (tp-ingest, tp-forward) embeds in its config
 * struct, and the rows that fill them: POLICY_FEED_CONFIG_ENTRIES(struct ingest_config, feed).
 * (tp-policy follows its one policy.topic instead.)
 */
struct policy_feed_settings {
    char *topics; /* "global.policies,policies" */
    size_t max_active;
};

#define POLICY_FEED_CONFIG_ENTRIES(type, member)                                                   \
    CONFIG_ROW_STR("policy.topics", type, member.topics, "policies",                               \
                   "comma-separated compacted policies topics, each followed from its beginning "  \
                   "(a region: global.policies,policies; the global site: policies)"),             \
        CONFIG_ROW_SIZE("policy.max_active", type, member.max_active, "1000", 1, 100000,           \
                        "policies held at most; a record of a new one past it is refused "         \
                        "(logged, counted)")

/* Starts one follower per topic. TP_CONFIG for a bad config (no topic, too many, a
 * repeated one), TP_KAFKA when a consumer cannot be created. */
enum tp_err policy_feed_start(const struct policy_feed_config *cfg, struct policy_feed **out,
                              char *errstr, size_t errstr_size);
/* policy_feed_start with the topics of s->topics ("a, b": blanks around names ignored; an
 * empty name, a repeated one or more than POLICY_FEED_TOPICS_MAX: TP_CONFIG naming
 * policy.topics) and s->max_active. */
enum tp_err policy_feed_start_settings(const struct policy_feed_settings *s,
                                       const struct journal_config *kafka,
                                       void (*on_change)(void *arg), void *arg,
                                       struct policy_feed **out, char *errstr, size_t errstr_size);
/* Every topic read up to its end at start. */
bool policy_feed_ready(struct policy_feed *f);
/* Waits up to timeout_ms for policy_feed_ready: TP_OK or TP_TIMEOUT. */
enum tp_err policy_feed_wait_ready(struct policy_feed *f, int timeout_ms);
/* Waits up to timeout_ms until the record at (partition, offset) of topic is in the current
 * snapshot (or was refused, or a later offset was reached): read-your-writes after a
 * produce. TP_OK, TP_TIMEOUT, TP_NOT_FOUND when the topic is not followed. */
enum tp_err policy_feed_wait(struct policy_feed *f, const char *topic, int32_t partition,
                             int64_t offset, int timeout_ms);

/* The current snapshot, one reference taken (never NULL). */
struct policy_snapshot *policy_feed_snapshot(struct policy_feed *f);
/* Its set: immutable, borrowed until policy_snapshot_release. */
const struct policy_set *policy_snapshot_set(const struct policy_snapshot *s);
/* Its generation: higher for every later snapshot of the same feed. */
uint64_t policy_snapshot_generation(const struct policy_snapshot *s);
/* Drops the reference; NULL is a no-op. */
void policy_snapshot_release(struct policy_snapshot *s);

void policy_feed_stats(struct policy_feed *f, struct policy_feed_stats *out);
/* Stops the followers and frees the feed (snapshots still referenced stay valid until
 * released); NULL is a no-op. */
void policy_feed_free(struct policy_feed *f);

#endif
