/* mqtt_server.c - the MQTT transport of tp-ingest: see mqtt_server.h. */
#define _GNU_SOURCE /* accept4 */
#include "mqtt_server.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accept.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/service.h"
#include "ingest_int.h"
#include "mqtt/codec.h"
#include "period.h"
#include "mqtt_ring.h"

#define MQTT_BUSY_EXTRA 64    /* sockets over max_connections kept to answer CONNACK busy */
#define MQTT_READ_MAX   65536 /* the loop's scratch buffer */
#define MQTT_TICK_MS    250
#define MQTT_OWN_FDS    256 /* descriptors tp-ingest holds besides MQTT connections */
#define MQTT_DEVICE_MAX 128
#define MQTT_TOPIC_PFX  "twinpipe/v1/"
#define MQTT_SWEEP_MAX  4096 /* connection slots and config subscriptions per sweep pass */

enum {
    PUB_ACKED,
    PUB_DEAD_LETTERED,
    PUB_NOT_AUTHORIZED,
    PUB_TOPIC_INVALID,
    PUB_JOURNAL_FAILED,
    PUB__COUNT
};
static const char *const pub_outcome[PUB__COUNT] = {"acked", "dead_lettered", "not_authorized",
                                                    "topic_invalid", "journal_failed"};

/* A granted twinpipe/v1/<device>/config subscription: what the device was last told. */
struct mqtt_config_sub {
    char device[MQTT_DEVICE_MAX + 1];
    uint8_t qos;
    bool retain_as_published; /* MQTT 5 option: changes carry Retain 1 too */
    bool quiet;               /* Retain Handling 2 (or 1 on a repeat): nothing at subscribe */
    bool sent;                /* sent_ms was sent (or, quiet, taken as known) */
    bool dirty;          /* a newer period waits for pending_id's PUBACK (or the client's window) */
    uint16_t pending_id; /* QoS 1 config PUBLISH not yet PUBACKed; 0: none */
    int64_t sent_ms;
    struct period_attrs attrs; /* of the device's last reading on this connection with any */
};

/* a slot's reason and reason string are table rows (mqtt_ring.h) */
_Static_assert(MQTT_R__COUNT <= UINT8_MAX && ACCEPT_OK <= UINT16_MAX, "mqtt_slot fields");

/* A PUBLISH accept refused as overloaded, kept (copied) to submit again on resume. */
struct mqtt_parked {
    struct mqtt_publish pb; /* its topic and payload point into bytes */
    uint8_t bytes[];
};

struct mqtt_conn {
    int fd; /* -1 once closed (kept while tickets are out) */
    uint32_t index;
    struct mqtt_decoder dec;
    uint8_t *body; /* a partial packet's body (the decoder's buffer) */
    uint8_t *rest; /* bytes read but not yet decoded (reading paused mid-read) */
    size_t rest_off, rest_len;
    uint8_t version;
    bool connected, busy, paused, want_out, closing;
    bool touched;    /* in the completion pass's list of connections to flush */
    uint8_t ev_mask; /* the events registered with epoll (EPOLLIN, EPOLLOUT: both < 256) */
    struct auth_claims claims;
    bool has_claims;
    char client_id[MQTT_DEVICE_MAX + 1];
    char user[MQTT_DEVICE_MAX + 1];
    int64_t accepted_ms, last_rx_ms, keepalive_ms, refused_log_ms;
    int subscriptions;
    struct mqtt_ring ring; /* QoS 1 PUBLISHes waiting for their PUBACK; no slots while idle */
    uint32_t tickets;      /* accept callbacks still due */
    uint8_t *out;          /* unwritten answers; NULL once all are written */
    size_t out_len, out_cap;
    struct mqtt_parked *parked;  /* NULL: none */
    struct mqtt_conn *next_reap; /* closed: freed by server_reap once no ticket is out */
    bool reaping;
    /* with policies: the config subscriptions (at most max_subscriptions), our QoS 1 config
     * PUBLISHes in flight and the client's Receive Maximum for them */
    struct mqtt_config_sub *cfg_subs;
    uint32_t n_cfg_subs, cfg_inflight;
    uint16_t client_receive_max, next_packet_id;
};

/* A PUBLISH of a device with a config subscription on its connection: the attributes its
 * readings carried, from accept's outcome (period.h). */
struct mqtt_ticket_period {
    char device[MQTT_DEVICE_MAX + 1];
    struct period_attrs attrs;
    bool one_device;
};

/* What a done callback hands back to the loop. */
struct mqtt_ticket {
    struct mqtt_ticket *next;
    struct mqtt_conn *c;
    uint32_t seq; /* QoS 1: its slot in c->ring */
    uint8_t qos;
    enum ingest_error error;
    bool payload_dead_lettered;
    size_t accepted, rejected, dead_lettered;
    enum ingest_error reason;
    struct mqtt_ticket_period *period; /* NULL: none wanted */
};

struct mqtt_server {
    struct ingest *ing;
    struct mqtt_server_config cfg;
    struct mqtt_limits lim;
    char address[300];
    int lfd, efd, ep;
    pthread_t thread;
    bool started;
    struct service_beat *beat;
    atomic_bool draining, stop, exited;
    struct mqtt_conn *reap;
    _Atomic int64_t drain_deadline_ms;
    struct mqtt_conn **conns; /* max_connections + MQTT_BUSY_EXTRA */
    uint32_t n_slots, n_open, n_sessions;
    bool global_paused;
    pthread_mutex_t mu;
    struct mqtt_ticket *done; /* under mu; the eventfd is written when it turns non-empty */
    uint32_t *touched;        /* n_slots: connections of one completion pass */
    uint8_t scratch[MQTT_READ_MAX];
    /* policies (ing->policies): config messages re-evaluated by bounded sweeps */
    atomic_bool policies_changed; /* set by the feed's on_change */
    bool policies_ready, sweeping, sweep_again;
    uint32_t sweep_at;      /* next connection slot of the sweep */
    int64_t policy_next_ms; /* wall clock of the next from/until of any policy */
    /* metrics */
    _Atomic uint64_t connects[MQTT_R__COUNT];
    _Atomic uint64_t disconnects[MQTT_R__COUNT + 2]; /* + client, eof */
    _Atomic uint64_t publishes[2][PUB__COUNT];
    _Atomic uint64_t bytes_read, bytes_written, subscribes_granted, subscribes_refused;
    _Atomic long connections, inflight, paused_conns, ring_slots;
    struct metrics_histogram puback_latency;
};

#define DISC_CLIENT (MQTT_R__COUNT)
#define DISC_EOF    (MQTT_R__COUNT + 1)

/* ---- output ---- */

static void conn_close(struct mqtt_server *s, struct mqtt_conn *c, int why);

static void conn_send(struct mqtt_server *s, struct mqtt_conn *c, const struct mqtt_packet *p)
{
    if (c->fd < 0 || c->closing)
        return;
    uint8_t tmp[1024];
    size_t n = 0;
    uint8_t version = c->version ? c->version : 4;
    if (mqtt_encode(version, p, tmp, sizeof(tmp), &n) != TP_OK) {
        log_warn("mqtt: could not encode a packet of type %d for client \"%s\"", (int)p->type,
                 c->client_id);
        return;
    }
    if (c->out_len + n > s->cfg.max_output) {
        log_warn("mqtt: client \"%s\" does not read its answers (%zu bytes unwritten): closed",
                 c->client_id, c->out_len);
        conn_close(s, c, DISC_EOF);
        return;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 256;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = tp_realloc(c->out, cap);
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, tmp, n);
    c->out_len += n;
}

static void conn_events(struct mqtt_server *s, struct mqtt_conn *c)
{
    if (c->fd < 0)
        return;
    uint32_t want = (c->paused || c->closing ? 0u : EPOLLIN) | (c->out_len ? EPOLLOUT : 0u);
    if (want == c->ev_mask) /* level-triggered: what is registered stands */
        return;
    struct epoll_event ev = {.events = want, .data.u32 = c->index};
    epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->ev_mask = (uint8_t)want;
}

/* Writes what it can; false when the connection failed. */
static bool conn_flush(struct mqtt_server *s, struct mqtt_conn *c)
{
    size_t off = 0;
    while (c->fd >= 0 && off < c->out_len) {
        ssize_t w = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        c->out_len = 0;
        return false;
    }
    atomic_fetch_add(&s->bytes_written, off);
    if (off) { /* c->out is NULL while nothing was ever queued: no memmove(NULL, ...) */
        memmove(c->out, c->out + off, c->out_len - off);
        c->out_len -= off;
    }
    return true; /* an emptied output buffer stays until the next tick (reused meanwhile) */
}

static void conn_free(struct mqtt_server *s, struct mqtt_conn *c)
{
    s->conns[c->index] = NULL;
    free(c->cfg_subs);
    atomic_fetch_sub(&s->ring_slots, (long)c->ring.cap);
    mqtt_ring_release(&c->ring);
    free(c->out);
    free(c->body);
    free(c->rest);
    free(c->parked);
    free(c);
}

/* Closes the socket (after a last flush); the struct stays while tickets are out. */
static void conn_close(struct mqtt_server *s, struct mqtt_conn *c, int why)
{
    if (c->fd >= 0) {
        c->closing = true;
        conn_flush(s, c);
        epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        s->n_open--;
        if (c->connected) {
            s->n_sessions--;
            atomic_fetch_sub(&s->connections, 1);
        }
        if (c->paused)
            atomic_fetch_sub(&s->paused_conns, 1);
        c->paused = false;
        atomic_fetch_add(&s->disconnects[why], 1);
        atomic_fetch_sub(&s->inflight, (long)c->ring.count);
    }
    if (!c->reaping) {
        c->reaping = true;
        c->next_reap = s->reap;
        s->reap = c;
    }
}

/* Frees the closed connections no ticket points to any more (end of each loop turn). */
static void server_reap(struct mqtt_server *s)
{
    struct mqtt_conn **pp = &s->reap;
    while (*pp) {
        struct mqtt_conn *c = *pp;
        if (c->tickets) {
            pp = &c->next_reap;
            continue;
        }
        *pp = c->next_reap;
        conn_free(s, c);
    }
}

/* A refusal by the reason table: DISCONNECT or CONNACK with its code, or just the close. */
static void conn_refuse(struct mqtt_server *s, struct mqtt_conn *c, enum mqtt_reason r)
{
    uint8_t code = 0;
    enum mqtt_answer a = mqtt_reason_answer(r, c->version, &code);
    if (a == MQTT_ANSWER_CONNACK) {
        uint8_t v = c->version;
        if (r == MQTT_R_UNSUPPORTED_PROTOCOL)
            c->version = 4; /* answered in the 3.1.1 format */
        struct mqtt_packet p = {.type = MQTT_CONNACK, .u.connack = {.code = code}};
        conn_send(s, c, &p);
        c->version = v;
        atomic_fetch_add(&s->connects[r], 1);
    } else if (a == MQTT_ANSWER_DISCONNECT || (a == MQTT_ANSWER_PUBACK && c->version != 5)) {
        if (c->version == 5) {
            struct mqtt_packet p = {.type = MQTT_DISCONNECT, .u.disconnect = {.code = code}};
            conn_send(s, c, &p);
        }
    }
    conn_close(s, c, (int)r);
}

/* ---- PUBACKs in order ---- */

/* Takes the next slot of c's ring for a QoS 1 PUBLISH; conn_can_take let it in, so the window
 * has room. */
static struct mqtt_slot *conn_ring_push(struct mqtt_server *s, struct mqtt_conn *c, uint32_t *seq)
{
    uint16_t cap = c->ring.cap;
    bool room = mqtt_ring_push(&c->ring, (uint32_t)s->cfg.receive_maximum, seq);
    assert(room);
    (void)room;
    atomic_fetch_add(&s->ring_slots, (long)c->ring.cap - cap);
    return mqtt_ring_at(&c->ring, *seq);
}

static void conn_acks(struct mqtt_server *s, struct mqtt_conn *c)
{
    for (;;) {
        struct mqtt_slot *sl = mqtt_ring_head(&c->ring);
        if (!sl || !sl->done)
            break;
        if (sl->fail) {
            atomic_fetch_add(&s->publishes[1][PUB_JOURNAL_FAILED], 1);
            conn_refuse(s, c, MQTT_R_JOURNAL_UNAVAILABLE);
            return;
        }
        uint8_t code = 0;
        mqtt_reason_answer((enum mqtt_reason)sl->reason, c->version, &code);
        struct mqtt_packet p = {.type = MQTT_PUBACK,
                                .u.ack = {.packet_id = sl->packet_id, .code = code}};
        char count[24];
        struct mqtt_user_prop up = {{(const uint8_t *)"tp-dead-lettered", 16}, {0}};
        if (c->version == 5 && sl->reason != MQTT_R_SUCCESS && sl->detail != ACCEPT_OK) {
            const char *rs = ingest_error_code((enum ingest_error)sl->detail);
            p.u.ack.props.present |= MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
            p.u.ack.props.reason_string =
                (struct mqtt_bin){(const uint8_t *)rs, (uint16_t)strlen(rs)};
        } else if (c->version == 5 && sl->dead_lettered) {
            int n = snprintf(count, sizeof(count), "%u", sl->dead_lettered);
            up.value = (struct mqtt_bin){(const uint8_t *)count, (uint16_t)n};
            p.u.ack.props.user = &up;
            p.u.ack.props.n_user = 1;
        }
        conn_send(s, c, &p);
        metrics_histogram_observe(&s->puback_latency, (double)(tp_mono_ms() - sl->t0_ms));
        mqtt_ring_pop(&c->ring);
        atomic_fetch_sub(&s->inflight, 1);
        if (c->fd < 0)
            return;
    }
}

/* ---- the config topic: the devices' reporting period (period.h) ---- */

static struct mqtt_config_sub *config_find(struct mqtt_conn *c, const char *device)
{
    for (uint32_t i = 0; i < c->n_cfg_subs; i++)
        if (!strcmp(c->cfg_subs[i].device, device))
            return &c->cfg_subs[i];
    return NULL;
}

/* {"report_every_ms":N} on the subscription's topic, at its QoS: Retain 1 for the first
 * message of the subscription (the retained message a SUBSCRIBE gets), afterwards only with
 * Retain As Published (a change reaches an existing subscription as a live message). */
static void config_send(struct mqtt_server *s, struct mqtt_conn *c, struct mqtt_config_sub *sub,
                        int64_t period)
{
    char topic[sizeof(MQTT_TOPIC_PFX) + MQTT_DEVICE_MAX + 8];
    int tl = snprintf(topic, sizeof(topic), MQTT_TOPIC_PFX "%s/config", sub->device);
    struct buf payload;
    buf_init(&payload, 64);
    period_config_json(period, &payload);
    struct mqtt_packet p = {.type = MQTT_PUBLISH,
                            .u.publish = {.retain = !sub->sent || sub->retain_as_published,
                                          .qos = sub->qos,
                                          .topic = {(const uint8_t *)topic, (uint16_t)tl},
                                          .payload = (const uint8_t *)payload.data,
                                          .payload_len = payload.len}};
    if (sub->qos) {
        /* an id no config PUBLISH of this connection holds (at most n_cfg_subs do) */
        for (;;) {
            if (++c->next_packet_id == 0)
                c->next_packet_id = 1;
            uint32_t i = 0;
            while (i < c->n_cfg_subs && c->cfg_subs[i].pending_id != c->next_packet_id)
                i++;
            if (i == c->n_cfg_subs)
                break;
        }
        p.u.publish.packet_id = c->next_packet_id;
        sub->pending_id = c->next_packet_id;
        c->cfg_inflight++;
    }
    conn_send(s, c, &p);
    buf_release(&payload);
    sub->sent = true;
    sub->sent_ms = period;
    sub->dirty = false;
    atomic_fetch_add(&s->ing->period_answers[1][period != s->ing->default_report_every_ms], 1);
}

/* Tells the subscription its device's period at now if it was never told or it changed:
 * once the previous QoS 1 message is PUBACKed and within the client's Receive Maximum. */
static void config_update(struct mqtt_server *s, struct mqtt_conn *c, struct mqtt_config_sub *sub,
                          const struct policy_set *set, int64_t now)
{
    if (c->fd < 0 || c->closing || !s->policies_ready)
        return;
    int64_t period = period_of(set, s->ing->site, sub->device, &sub->attrs, now,
                               s->ing->default_report_every_ms);
    if (sub->sent && period == sub->sent_ms) {
        sub->dirty = false; /* told already (its PUBACK may still be due) */
        return;
    }
    if (!sub->sent && sub->quiet) {
        sub->sent = true; /* no retained message wanted: only later changes are sent */
        sub->sent_ms = period;
        return;
    }
    if (sub->qos && (sub->pending_id || c->cfg_inflight >= c->client_receive_max)) {
        sub->dirty = true;
        return;
    }
    config_send(s, c, sub, period);
}

/* One subscription (or every one of c, sub NULL) against the current snapshot. */
static void config_update_conn(struct mqtt_server *s, struct mqtt_conn *c,
                               struct mqtt_config_sub *sub)
{
    struct policy_snapshot *snap = policy_feed_snapshot(s->ing->policies);
    int64_t now = tp_now_ms();
    for (uint32_t i = 0; i < c->n_cfg_subs; i++)
        if (!sub || sub == &c->cfg_subs[i])
            config_update(s, c, &c->cfg_subs[i], policy_snapshot_set(snap), now);
    policy_snapshot_release(snap);
}

/* A granted SUBSCRIBE of the device's config topic: the retained message follows the SUBACK
 * (config_update_conn after it), again on a repeated SUBSCRIBE. */
static struct mqtt_config_sub *config_subscribe(struct mqtt_server *s, struct mqtt_conn *c,
                                                const char *device, uint8_t qos, uint8_t options)
{
    struct mqtt_config_sub *sub = config_find(c, device);
    /* MQTT 5 Retain Handling: 0 send at subscribe, 1 only for a new subscription, 2 never */
    uint8_t handling = c->version == 5 ? (uint8_t)((options >> 4) & 3) : 0;
    bool repeat = sub != NULL;
    if (!sub) {
        if (!c->cfg_subs)
            c->cfg_subs = tp_calloc((size_t)s->cfg.max_subscriptions, sizeof(*c->cfg_subs));
        if (c->n_cfg_subs >= (uint32_t)s->cfg.max_subscriptions)
            return NULL; /* not reached: the quota was checked before granting */
        sub = &c->cfg_subs[c->n_cfg_subs++];
        memset(sub, 0, sizeof(*sub));
        snprintf(sub->device, sizeof(sub->device), "%s", device);
    }
    if (sub->pending_id && !qos) {
        sub->pending_id = 0; /* no PUBACK is expected any more for it */
        c->cfg_inflight--;
    }
    sub->qos = qos;
    sub->retain_as_published = c->version == 5 && (options & 0x08);
    sub->quiet = handling == 2 || (handling == 1 && repeat);
    sub->sent = false;
    sub->dirty = false;
    return sub;
}

static void config_unsubscribe(struct mqtt_conn *c, const char *device)
{
    struct mqtt_config_sub *sub = config_find(c, device);
    if (!sub)
        return;
    if (sub->pending_id)
        c->cfg_inflight--;
    *sub = c->cfg_subs[--c->n_cfg_subs];
}

/* The client's PUBACK of a config PUBLISH: the window reopens, waiting periods go out. */
static void config_puback(struct mqtt_server *s, struct mqtt_conn *c, uint16_t packet_id)
{
    bool waiting = false;
    for (uint32_t i = 0; i < c->n_cfg_subs; i++) {
        struct mqtt_config_sub *sub = &c->cfg_subs[i];
        if (packet_id && sub->pending_id == packet_id) {
            sub->pending_id = 0;
            c->cfg_inflight--;
        }
        waiting |= sub->dirty;
    }
    if (waiting && s->ing->policies)
        config_update_conn(s, c, NULL);
}

/* The attributes of a device's reading published on c: its subscription re-evaluated when
 * they changed. */
static void config_attrs(struct mqtt_server *s, struct mqtt_conn *c,
                         const struct mqtt_ticket_period *tp)
{
    struct mqtt_config_sub *sub = config_find(c, tp->device);
    if (!sub || !tp->one_device || period_attrs_empty(&tp->attrs) ||
        period_attrs_equal(&sub->attrs, &tp->attrs))
        return;
    sub->attrs = tp->attrs;
    config_update_conn(s, c, sub);
}

/* Every config subscription re-evaluated from the first connection slot on, in passes of at
 * most MQTT_SWEEP_MAX slots and subscriptions (the loop does not wait while one is due). */
static void config_sweep_start(struct mqtt_server *s)
{
    struct policy_snapshot *snap = policy_feed_snapshot(s->ing->policies);
    s->policy_next_ms = policy_set_next_change(policy_snapshot_set(snap), tp_now_ms());
    policy_snapshot_release(snap);
    s->sweeping = true;
    s->sweep_at = 0;
}

static void config_sweep(struct mqtt_server *s)
{
    struct policy_snapshot *snap = policy_feed_snapshot(s->ing->policies);
    const struct policy_set *set = policy_snapshot_set(snap);
    int64_t now = tp_now_ms();
    uint32_t work = 0;
    while (s->sweep_at < s->n_slots && work < MQTT_SWEEP_MAX) {
        struct mqtt_conn *c = s->conns[s->sweep_at++];
        work++;
        if (!c || c->fd < 0 || !c->n_cfg_subs)
            continue;
        for (uint32_t i = 0; i < c->n_cfg_subs; i++)
            config_update(s, c, &c->cfg_subs[i], set, now);
        work += c->n_cfg_subs;
        if (c->fd >= 0 && c->out_len && !conn_flush(s, c))
            conn_close(s, c, DISC_EOF);
        else if (c->fd >= 0)
            conn_events(s, c);
    }
    policy_snapshot_release(snap);
    if (s->sweep_at < s->n_slots)
        return;
    s->sweeping = false;
    if (s->sweep_again) { /* the slots before the cursor saw an older state */
        s->sweep_again = false;
        config_sweep_start(s);
    }
}

/* Once a loop turn: a new snapshot, the feed caught up, or a policy's from/until passed
 * start a sweep; a sweep under way goes on. */
static void config_turn(struct mqtt_server *s)
{
    if (!s->ing->policies)
        return;
    bool changed = atomic_exchange(&s->policies_changed, false);
    if (!s->policies_ready) {
        if (!policy_feed_ready(s->ing->policies))
            return;
        s->policies_ready = true;
        changed = true;
    }
    /* a sweep under way finishes first (later slots must not wait for ever), then one more */
    if ((changed || tp_now_ms() >= s->policy_next_ms) && s->sweeping)
        s->sweep_again = true;
    else if (changed || tp_now_ms() >= s->policy_next_ms)
        config_sweep_start(s);
    if (s->sweeping)
        config_sweep(s);
}

void mqtt_server_policies_changed(void *arg)
{
    struct mqtt_server *s = arg;
    atomic_store(&s->policies_changed, true);
    uint64_t one = 1;
    ssize_t w = write(s->efd, &one, sizeof(one));
    (void)w;
}

/* ---- accept's done (delivery thread) ---- */

static void on_done(void *arg, const struct accept_outcome *o)
{
    struct mqtt_ticket *t = arg;
    struct mqtt_server *s = NULL;
    t->error = o->error;
    t->payload_dead_lettered = o->payload_dead_lettered;
    t->accepted = o->accepted;
    t->rejected = o->rejected;
    t->dead_lettered = o->dead_lettered;
    t->reason = o->reason;
    if (t->period) {
        t->period->attrs = o->period.attrs;
        t->period->one_device = o->period.devices == 1;
    }
    s = (struct mqtt_server *)t->next; /* carried here until now */
    pthread_mutex_lock(&s->mu);
    bool first = !s->done;
    t->next = s->done;
    s->done = t;
    pthread_mutex_unlock(&s->mu);
    /* one wake-up per batch: the loop takes the whole list after reading the eventfd, so a
     * report added to a non-empty list is drained with the one that woke it */
    if (first) {
        uint64_t one = 1;
        ssize_t w = write(s->efd, &one, sizeof(one));
        (void)w;
    }
}

static void ticket_apply(struct mqtt_server *s, struct mqtt_ticket *t)
{
    struct mqtt_conn *c = t->c;
    int q = t->qos ? 1 : 0;
    bool failed = t->error != ACCEPT_OK;
    int outcome =
        failed ? PUB_JOURNAL_FAILED
               : (t->payload_dead_lettered || t->dead_lettered ? PUB_DEAD_LETTERED : PUB_ACKED);
    if (t->qos) {
        struct mqtt_slot *sl = mqtt_ring_at(&c->ring, t->seq);
        assert(sl); /* popped only once done */
        sl->done = true;
        sl->fail = failed;
        sl->dead_lettered = (uint32_t)t->dead_lettered;
        if (t->payload_dead_lettered)
            sl->reason = MQTT_R_PAYLOAD_FORMAT_INVALID;
        else if (!t->accepted && t->rejected)
            sl->reason = MQTT_R_NO_VALID_READING;
        else
            sl->reason = MQTT_R_SUCCESS;
        if (sl->reason != MQTT_R_SUCCESS)
            sl->detail = (uint16_t)t->reason; /* the code; ACCEPT_OK: no reason string */
        if (!failed)
            atomic_fetch_add(&s->publishes[q][outcome], 1);
        if (c->fd >= 0)
            conn_acks(s, c);
    } else {
        atomic_fetch_add(&s->publishes[q][outcome], 1);
    }
    if (t->period && !failed && c->fd >= 0)
        config_attrs(s, c, t->period);
    free(t->period);
    free(t);
    c->tickets--; /* last: server_reap frees c once it is closed and this was its last */
}

/* ---- packets ---- */

static bool device_id_valid(const uint8_t *p, size_t n)
{
    if (!n || n > MQTT_DEVICE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '-'))
            return false;
    }
    return true;
}

/* twinpipe/v1/<device>/<leaf>: the device into dev (NUL-terminated), or false. */
static bool topic_device(struct mqtt_bin t, const char *leaf, char dev[MQTT_DEVICE_MAX + 1])
{
    size_t pl = strlen(MQTT_TOPIC_PFX), ll = strlen(leaf);
    if (t.len < pl + 2 + ll || memcmp(t.p, MQTT_TOPIC_PFX, pl) != 0 ||
        memcmp(t.p + t.len - ll, leaf, ll) != 0 || t.p[t.len - ll - 1] != '/')
        return false;
    size_t n = t.len - pl - ll - 1;
    if (!device_id_valid(t.p + pl, n))
        return false;
    memcpy(dev, t.p + pl, n);
    dev[n] = '\0';
    return true;
}

static void conn_log_refused(struct mqtt_conn *c, const char *what, struct mqtt_bin topic,
                             const char *why)
{
    int64_t now = tp_mono_ms();
    if (c->refused_log_ms && now - c->refused_log_ms < 60000)
        return;
    c->refused_log_ms = now;
    log_warn("mqtt: %s refused for client \"%s\" (user \"%s\"), topic \"%.*s\": %s", what,
             c->client_id, c->user, (int)topic.len, (const char *)topic.p, why);
}

static void handle_connect(struct mqtt_server *s, struct mqtt_conn *c, struct mqtt_packet *pkt)
{
    const struct mqtt_connect *cn = &pkt->u.connect;
    c->version = cn->level;
    snprintf(c->client_id, sizeof(c->client_id), "%.*s", (int)cn->client_id.len,
             (const char *)cn->client_id.p);
    snprintf(c->user, sizeof(c->user), "%.*s", (int)cn->username.len, (const char *)cn->username.p);
    if (pkt->refusal != MQTT_R_SUCCESS) {
        conn_refuse(s, c, pkt->refusal);
        return;
    }
    if (atomic_load(&s->draining)) {
        conn_refuse(s, c, MQTT_R_SERVER_UNAVAILABLE);
        return;
    }
    if (c->busy) {
        conn_refuse(s, c, MQTT_R_SERVER_BUSY);
        return;
    }
    const char *secret = s->ing->limits.auth_secret;
    if (secret) {
        char why[256];
        if (!cn->has_username || !cn->has_password ||
            auth_verify_login(secret, (const char *)cn->username.p, cn->username.len,
                              (const char *)cn->password.p, cn->password.len, tp_now_ms() / 1000,
                              &c->claims, why, sizeof(why)) != TP_OK) {
            if (!cn->has_username || !cn->has_password)
                snprintf(why, sizeof(why), "user name and password (the token) are required");
            log_warn("mqtt: CONNECT refused for client \"%s\" (user \"%s\"): %s", c->client_id,
                     c->user, why);
            conn_refuse(s, c, MQTT_R_BAD_CREDENTIALS);
            return;
        }
        c->has_claims = true;
    }
    if (!c->client_id[0])
        snprintf(c->client_id, sizeof(c->client_id), "%s", c->user[0] ? c->user : "anonymous");
    /* the same client id again on this replica takes over: the old connection goes (a scan:
     * connects are rare next to PUBLISHes) */
    for (uint32_t i = 0; i < s->n_slots; i++) {
        struct mqtt_conn *o = s->conns[i];
        if (o && o != c && o->fd >= 0 && o->connected && !strcmp(o->client_id, c->client_id)) {
            log_info("mqtt: client \"%s\" connected again: the older connection is closed",
                     c->client_id);
            conn_refuse(s, o, MQTT_R_SESSION_TAKEN_OVER);
        }
    }
    int64_t ka = (int64_t)cn->keep_alive * 1000;
    bool server_ka = !ka || ka > s->cfg.keepalive_max_ms;
    c->keepalive_ms = server_ka ? s->cfg.keepalive_max_ms : ka;
    /* our QoS 1 config PUBLISHes in flight at most (MQTT 5 Receive Maximum; 3.1.1: none) */
    c->client_receive_max = 65535;
    if (c->version == 5 && (cn->props.present & MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM)))
        c->client_receive_max = cn->props.receive_maximum;
    c->connected = true;
    s->n_sessions++;
    atomic_fetch_add(&s->connections, 1);
    atomic_fetch_add(&s->connects[MQTT_R_SUCCESS], 1);
    struct mqtt_packet p = {.type = MQTT_CONNACK};
    struct mqtt_props *pr = &p.u.connack.props;
    if (c->version == 5) {
        pr->present = MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM) |
                      MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_QOS) |
                      MQTT_PROP_BIT(MQTT_PROP_RETAIN_AVAILABLE) |
                      MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE) |
                      MQTT_PROP_BIT(MQTT_PROP_WILDCARD_SUB_AVAILABLE) |
                      MQTT_PROP_BIT(MQTT_PROP_SUB_ID_AVAILABLE) |
                      MQTT_PROP_BIT(MQTT_PROP_SHARED_SUB_AVAILABLE);
        pr->receive_maximum = (uint16_t)s->cfg.receive_maximum;
        pr->maximum_qos = 1;
        pr->maximum_packet_size = (uint32_t)s->cfg.max_packet;
        if (server_ka) {
            pr->present |= MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEP_ALIVE);
            pr->server_keep_alive = (uint16_t)(c->keepalive_ms / 1000);
        }
        if (!cn->client_id.len) {
            pr->present |= MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_ID);
            pr->assigned_client_id =
                (struct mqtt_bin){(const uint8_t *)c->client_id, (uint16_t)strlen(c->client_id)};
        }
    }
    conn_send(s, c, &p);
    log_debug("mqtt: client \"%s\" (user \"%s\") connected, MQTT %s", c->client_id, c->user,
              c->version == 5 ? "5" : "3.1.1");
}

/* A PUBLISH refused before accept: PUBACK with the code (MQTT 5 QoS 1, in order), counted only
 * (MQTT 5 QoS 0), or the connection closed (3.1.1). */
static void publish_refuse(struct mqtt_server *s, struct mqtt_conn *c,
                           const struct mqtt_publish *pb, enum mqtt_reason r, int outcome)
{
    atomic_fetch_add(&s->publishes[pb->qos ? 1 : 0][outcome], 1);
    uint8_t code = 0;
    enum mqtt_answer a = mqtt_reason_answer(r, c->version, &code);
    if (a != MQTT_ANSWER_PUBACK) {
        conn_refuse(s, c, r);
        return;
    }
    if (!pb->qos)
        return;
    uint32_t seq;
    struct mqtt_slot *sl = conn_ring_push(s, c, &seq);
    *sl = (struct mqtt_slot){.packet_id = pb->packet_id,
                             .done = true,
                             .reason = (uint8_t)r,
                             .detail = ACCEPT_OK,
                             .t0_ms = tp_mono_ms()};
    atomic_fetch_add(&s->inflight, 1);
    conn_acks(s, c);
}

static void conn_pause(struct mqtt_server *s, struct mqtt_conn *c, bool on);

/* Keeps a copy of pb to submit again when reading resumes (backpressure: nothing refused). */
static void publish_park(struct mqtt_server *s, struct mqtt_conn *c, const struct mqtt_publish *pb)
{
    struct mqtt_parked *k = tp_malloc(sizeof(*k) + pb->topic.len + pb->payload_len + 1);
    memcpy(k->bytes, pb->topic.p, pb->topic.len);
    if (pb->payload_len)
        memcpy(k->bytes + pb->topic.len, pb->payload, pb->payload_len);
    k->pb = *pb;
    k->pb.topic.p = k->bytes;
    k->pb.payload = k->bytes + pb->topic.len;
    c->parked = k;
    if (!s->global_paused)
        log_warn("mqtt: reading paused (the producer is over ingest.max_outstanding)");
    s->global_paused = true;
    conn_pause(s, c, true);
}

static void publish_submit(struct mqtt_server *s, struct mqtt_conn *c,
                           const struct mqtt_publish *pb, enum mqtt_reason refusal);

static void handle_publish(struct mqtt_server *s, struct mqtt_conn *c, struct mqtt_packet *pkt)
{
    publish_submit(s, c, &pkt->u.publish, pkt->refusal);
}

static void publish_submit(struct mqtt_server *s, struct mqtt_conn *c,
                           const struct mqtt_publish *pb, enum mqtt_reason refusal)
{
    char dev[MQTT_DEVICE_MAX + 1];
    if (refusal != MQTT_R_SUCCESS || !topic_device(pb->topic, "telemetry", dev)) {
        conn_log_refused(c, "PUBLISH", pb->topic, "not a twinpipe/v1/<device>/telemetry topic");
        publish_refuse(s, c, pb, MQTT_R_TOPIC_NAME_INVALID, PUB_TOPIC_INVALID);
        return;
    }
    if (c->has_claims && !auth_covers(&c->claims, dev)) {
        conn_log_refused(c, "PUBLISH", pb->topic, "the token does not cover that device");
        publish_refuse(s, c, pb, MQTT_R_NOT_AUTHORIZED, PUB_NOT_AUTHORIZED);
        return;
    }
    struct mqtt_ticket *t = tp_calloc(1, sizeof(*t));
    t->c = c;
    t->qos = pb->qos;
    if (pb->qos)
        *conn_ring_push(s, c, &t->seq) = (struct mqtt_slot){
            .packet_id = pb->packet_id, .detail = ACCEPT_OK, .t0_ms = tp_mono_ms()};
    if (s->ing->policies && config_find(c, dev)) {
        t->period = tp_calloc(1, sizeof(*t->period));
        snprintf(t->period->device, sizeof(t->period->device), "%s", dev);
    }
    t->next = (struct mqtt_ticket *)(void *)s; /* on_done reads the server from here */
    char topic[320];
    snprintf(topic, sizeof(topic), "%.*s", (int)pb->topic.len, (const char *)pb->topic.p);
    struct accept_request rq = {.claims = c->has_claims ? &c->claims : NULL,
                                .body = pb->payload,
                                .len = pb->payload_len,
                                .topic_device = dev,
                                .invalid = ACCEPT_INVALID_DEAD_LETTER,
                                .client_id = c->client_id,
                                .mqtt_topic = topic,
                                .no_period = !t->period,
                                .done = on_done,
                                .arg = t};
    struct accept_outcome now;
    /* counted before the call: done may run inside it */
    c->tickets++;
    if (pb->qos)
        atomic_fetch_add(&s->inflight, 1);
    enum tp_err err = accept_submit(s->ing, &rq, &now);
    if (err == TP_OK)
        return;
    c->tickets--;
    if (pb->qos) {
        mqtt_ring_unpush(&c->ring);
        atomic_fetch_sub(&s->inflight, 1);
    }
    free(t->period);
    free(t);
    enum mqtt_reason r = MQTT_R_PAYLOAD_FORMAT_INVALID;
    int outcome = PUB_DEAD_LETTERED;
    if (now.error == INGEST_ERR_FORBIDDEN) {
        conn_log_refused(c, "PUBLISH", pb->topic, now.message);
        r = MQTT_R_NOT_AUTHORIZED;
        outcome = PUB_NOT_AUTHORIZED;
    } else if (err == TP_QUEUE_FULL) {
        accept_outcome_release(&now);
        publish_park(s, c, pb); /* backpressure: submitted again when reading resumes */
        return;
    } else if (err != TP_VALIDATION) {
        r = MQTT_R_REGISTRY_UNAVAILABLE;
        outcome = PUB_JOURNAL_FAILED;
    } else {
        log_warn("mqtt: PUBLISH of client \"%s\" refused: %s", c->client_id, now.message);
    }
    accept_outcome_release(&now);
    if (r == MQTT_R_JOURNAL_UNAVAILABLE || r == MQTT_R_REGISTRY_UNAVAILABLE) {
        atomic_fetch_add(&s->publishes[pb->qos ? 1 : 0][outcome], 1);
        conn_refuse(s, c, r);
        return;
    }
    publish_refuse(s, c, pb, r, outcome);
}

static void handle_subscribe(struct mqtt_server *s, struct mqtt_conn *c, struct mqtt_packet *pkt)
{
    const struct mqtt_subscribe *sb = &pkt->u.sub;
    bool unsub = pkt->type == MQTT_UNSUBSCRIBE;
    uint8_t codes[256];
    uint16_t n = 0;
    bool announce = false;
    size_t off = 0;
    struct mqtt_bin f;
    uint8_t opt = 0;
    while (n < sizeof(codes) && mqtt_subscribe_next(sb, &off, &f, &opt)) {
        char dev[MQTT_DEVICE_MAX + 1];
        enum mqtt_reason r = MQTT_R_SUCCESS;
        if (!mqtt_topic_filter_valid(f.p, f.len, (size_t)s->cfg.max_topic))
            r = MQTT_R_TOPIC_FILTER_INVALID;
        else if (!topic_device(f, "config", dev) ||
                 (c->has_claims && !auth_covers(&c->claims, dev)))
            r = MQTT_R_SUBSCRIBE_NOT_AUTHORIZED;
        else if (!unsub && c->subscriptions >= s->cfg.max_subscriptions)
            r = MQTT_R_QUOTA_EXCEEDED;
        uint8_t code = 0;
        if (unsub) {
            if (r == MQTT_R_SUCCESS && c->subscriptions > 0)
                c->subscriptions--;
            if (r == MQTT_R_SUCCESS && s->ing->policies)
                config_unsubscribe(c, dev);
            code = 0; /* success (3.1.1 carries none) */
        } else if (r == MQTT_R_SUCCESS) {
            c->subscriptions++;
            code = (opt & 3) ? 1 : 0; /* granted QoS, at most 1 */
            atomic_fetch_add(&s->subscribes_granted, 1);
            if (s->ing->policies && config_subscribe(s, c, dev, code, opt))
                announce = true;
        } else {
            mqtt_reason_answer(r, c->version, &code);
            atomic_fetch_add(&s->subscribes_refused, 1);
            conn_log_refused(c, "SUBSCRIBE", f, mqtt_reason_when(r));
        }
        codes[n++] = code;
    }
    struct mqtt_packet p = {.type = unsub ? MQTT_UNSUBACK : MQTT_SUBACK,
                            .u.suback = {.packet_id = sb->packet_id, .n = n, .codes = codes}};
    conn_send(s, c, &p);
    if (announce) /* the retained config messages follow the SUBACK */
        config_update_conn(s, c, NULL);
}

static void handle_packet(struct mqtt_server *s, struct mqtt_conn *c, struct mqtt_packet *pkt)
{
    if (pkt->type == MQTT_CONNECT) {
        handle_connect(s, c, pkt);
        return;
    }
    if (!c->connected) {
        conn_refuse(s, c, MQTT_R_PROTOCOL_ERROR);
        return;
    }
    switch (pkt->type) {
    case MQTT_PUBLISH:
        handle_publish(s, c, pkt);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        handle_subscribe(s, c, pkt);
        break;
    case MQTT_PINGREQ: {
        struct mqtt_packet p = {.type = MQTT_PINGRESP};
        conn_send(s, c, &p);
        break;
    }
    case MQTT_DISCONNECT:
        conn_close(s, c, DISC_CLIENT);
        break;
    case MQTT_PUBACK: /* of a config message */
        config_puback(s, c, pkt->u.ack.packet_id);
        break;
    default:
        break;
    }
}

/* ---- reading ---- */

/* Whether this connection may take another packet now. */
static bool conn_can_take(struct mqtt_server *s, struct mqtt_conn *c)
{
    return !s->global_paused && !atomic_load(&s->draining) && !c->parked &&
           c->ring.count < (uint32_t)s->cfg.receive_maximum;
}

static void conn_pause(struct mqtt_server *s, struct mqtt_conn *c, bool on)
{
    if (c->paused == on || c->fd < 0)
        return;
    c->paused = on;
    atomic_fetch_add(&s->paused_conns, on ? 1 : -1);
}

/* Decodes data; keeps what it cannot take now in c->rest. */
static void conn_input(struct mqtt_server *s, struct mqtt_conn *c, const uint8_t *data, size_t len)
{
    while (len && c->fd >= 0 && !c->closing) {
        if (!conn_can_take(s, c)) {
            uint8_t *r = tp_malloc(len);
            memcpy(r, data, len);
            free(c->rest);
            c->rest = r;
            c->rest_off = 0;
            c->rest_len = len;
            conn_pause(s, c, true);
            return;
        }
        size_t used = 0;
        struct mqtt_packet pkt;
        enum mqtt_reason why = MQTT_R_SUCCESS;
        enum mqtt_step st = mqtt_decoder_feed(&c->dec, data, len, &used, &pkt, &why);
        data += used;
        len -= used;
        if (st == MQTT_STEP_BUFFER) {
            uint32_t n = mqtt_decoder_body_size(&c->dec);
            free(c->body);
            c->body = tp_malloc(n ? n : 1);
            mqtt_decoder_set_buffer(&c->dec, c->body, n);
            continue;
        }
        if (st == MQTT_STEP_ERROR) {
            if (!c->version && why == MQTT_R_UNSUPPORTED_PROTOCOL)
                c->version = 4;
            if (!c->connected && why != MQTT_R_UNSUPPORTED_PROTOCOL && c->dec.version == 5)
                c->version = 5;
            log_debug("mqtt: client \"%s\": %s", c->client_id, mqtt_reason_when(why));
            conn_refuse(s, c, why);
            return;
        }
        if (st == MQTT_STEP_PACKET) {
            handle_packet(s, c, &pkt);
            if (c->body && !mqtt_decoder_busy(&c->dec)) {
                mqtt_decoder_set_buffer(&c->dec, NULL, 0);
                free(c->body);
                c->body = NULL;
            }
        }
    }
}

static void conn_read(struct mqtt_server *s, struct mqtt_conn *c)
{
    ssize_t n = recv(c->fd, s->scratch, sizeof(s->scratch), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)) {
        conn_close(s, c, DISC_EOF);
        return;
    }
    if (n < 0)
        return;
    atomic_fetch_add(&s->bytes_read, (uint64_t)n);
    c->last_rx_ms = tp_mono_ms();
    conn_input(s, c, s->scratch, (size_t)n);
}

/* Takes up the bytes kept while paused, then reads the socket again. */
static void conn_resume(struct mqtt_server *s, struct mqtt_conn *c)
{
    if (c->parked && !s->global_paused && !atomic_load(&s->draining) &&
        c->ring.count < (uint32_t)s->cfg.receive_maximum) {
        struct mqtt_parked *k = c->parked;
        c->parked = NULL;
        publish_submit(s, c, &k->pb, MQTT_R_SUCCESS); /* may park it again */
        free(k);
        if (c->fd < 0)
            return;
    }
    if (!c->paused || !conn_can_take(s, c))
        return;
    conn_pause(s, c, false);
    if (c->rest) {
        uint8_t *r = c->rest;
        size_t off = c->rest_off, len = c->rest_len;
        c->rest = NULL;
        conn_input(s, c, r + off, len - off);
        free(r);
    }
}

static void server_accept(struct mqtt_server *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (s->n_open >= s->n_slots) {
            close(fd);
            atomic_fetch_add(&s->connects[MQTT_R_SERVER_BUSY], 1);
            continue;
        }
        uint32_t i = 0;
        while (s->conns[i])
            i++;
        struct mqtt_conn *c = tp_calloc(1, sizeof(*c));
        c->fd = fd;
        c->index = i;
        c->busy = s->n_open >= (uint32_t)s->cfg.max_connections;
        c->accepted_ms = c->last_rx_ms = tp_mono_ms();
        mqtt_decoder_init(&c->dec, MQTT_SERVER, &s->lim);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        s->conns[i] = c;
        s->n_open++;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
        c->ev_mask = EPOLLIN;
    }
}

/* Connect timeout, keep-alive (1.5 x), token expiry, resuming and the drain's end. */
static void server_tick(struct mqtt_server *s)
{
    int64_t now = tp_mono_ms(), now_s = tp_now_ms() / 1000;
    size_t bound = s->ing->limits.max_outstanding;
    size_t out = journal_producer_outstanding(s->ing->producer);
    bool ready = atomic_load(&s->ing->ready);
    if (!s->global_paused && (out >= bound || !ready)) {
        s->global_paused = true;
        log_warn("mqtt: reading paused (%zu events waiting for kafka, bound %zu%s)", out, bound,
                 ready ? "" : ", kafka unreachable");
    } else if (s->global_paused && out < bound - bound / 10 && ready) {
        s->global_paused = false;
        log_info("mqtt: reading resumed");
    }
    bool draining = atomic_load(&s->draining);
    for (uint32_t i = 0; i < s->n_slots; i++) {
        struct mqtt_conn *c = s->conns[i];
        if (!c || c->fd < 0)
            continue;
        if (draining) {
            if (!c->ring.count || now >= s->drain_deadline_ms)
                conn_refuse(s, c, MQTT_R_SHUTTING_DOWN);
            continue;
        }
        if (!c->connected) {
            if (now - c->accepted_ms > s->cfg.connect_timeout_ms)
                conn_close(s, c, DISC_EOF);
            continue;
        }
        /* a paused connection is not read: its PINGREQs wait with the rest */
        if (c->paused)
            c->last_rx_ms = now;
        else if (now - c->last_rx_ms > c->keepalive_ms + c->keepalive_ms / 2) {
            conn_refuse(s, c, MQTT_R_KEEPALIVE_TIMEOUT);
            continue;
        }
        if (c->has_claims && now_s >= c->claims.expiry_s) {
            conn_refuse(s, c, MQTT_R_MAX_CONNECT_TIME);
            continue;
        }
        uint16_t cap = c->ring.cap;
        mqtt_ring_trim(&c->ring); /* empty since the last tick: an idle connection holds none */
        atomic_fetch_sub(&s->ring_slots, (long)cap - c->ring.cap);
        if (!c->out_len && c->out) { /* nor an output buffer */
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
        if (s->global_paused)
            conn_pause(s, c, true);
        else
            conn_resume(s, c);
        if (c->fd >= 0) {
            if (c->out_len && !conn_flush(s, c))
                conn_close(s, c, DISC_EOF);
            else
                conn_events(s, c);
        }
    }
}

static void server_completions(struct mqtt_server *s)
{
    uint64_t v;
    ssize_t r = read(s->efd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&s->mu);
    struct mqtt_ticket *t = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->mu);
    /* the list is newest first: apply in arrival order */
    struct mqtt_ticket *rev = NULL;
    while (t) {
        struct mqtt_ticket *n = t->next;
        t->next = rev;
        rev = t;
        t = n;
    }
    /* all outcomes first, then one resume, one send and one epoll update per connection */
    uint32_t n_touched = 0;
    while (rev) {
        struct mqtt_ticket *n = rev->next;
        struct mqtt_conn *c = rev->c;
        ticket_apply(s, rev);
        if (s->conns[c->index] == c && c->fd >= 0 && !c->touched) {
            c->touched = true;
            s->touched[n_touched++] = c->index;
        }
        rev = n;
    }
    for (uint32_t i = 0; i < n_touched; i++) {
        struct mqtt_conn *c = s->conns[s->touched[i]]; /* server_reap frees after the pass */
        c->touched = false;
        if (c->fd < 0)
            continue;
        conn_resume(s, c);
        if (c->fd >= 0 && c->out_len && !conn_flush(s, c))
            conn_close(s, c, DISC_EOF);
        else if (c->fd >= 0)
            conn_events(s, c);
    }
}

static void *server_loop(void *arg)
{
    struct mqtt_server *s = arg;
    struct epoll_event evs[256];
    int64_t next_tick = tp_mono_ms() + MQTT_TICK_MS;
    while (!atomic_load(&s->stop)) {
        service_beat(s->beat);
        int n = epoll_wait(s->ep, evs, 256, s->sweeping ? 0 : MQTT_TICK_MS);
        for (int i = 0; i < n; i++) {
            uint32_t id = evs[i].data.u32;
            if (id == UINT32_MAX - 1) {
                if (!atomic_load(&s->draining))
                    server_accept(s);
                else
                    epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL); /* stop accepting */
                continue;
            }
            if (id == UINT32_MAX) {
                server_completions(s);
                continue;
            }
            struct mqtt_conn *c = s->conns[id];
            if (!c || c->fd < 0)
                continue;
            if (evs[i].events & EPOLLOUT) {
                if (!conn_flush(s, c)) {
                    conn_close(s, c, DISC_EOF);
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (c->paused || !conn_can_take(s, c)) {
                    conn_pause(s, c, true);
                } else {
                    conn_read(s, c);
                }
            }
            if (c->fd < 0 || s->conns[id] != c)
                continue;
            if (c->out_len && !conn_flush(s, c))
                conn_close(s, c, DISC_EOF);
            else
                conn_events(s, c);
        }
        if (tp_mono_ms() >= next_tick) {
            server_tick(s);
            next_tick = tp_mono_ms() + MQTT_TICK_MS;
        }
        if (!atomic_load(&s->draining))
            config_turn(s);
        server_reap(s);
        if (atomic_load(&s->draining) && !s->n_open)
            break;
    }
    service_beat_idle(s->beat);
    atomic_store(&s->exited, true);
    return NULL;
}

/* ---- life cycle ---- */

static enum tp_err server_bind(struct mqtt_server *s, char *errstr, size_t errstr_size)
{
    const char *colon = strrchr(s->cfg.listen, ':');
    if (!colon || colon == s->cfg.listen || !colon[1])
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "mqtt.listen \"%s\" is not host:port",
                          s->cfg.listen);
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - s->cfg.listen), s->cfg.listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "mqtt.listen \"%s\": %s", s->cfg.listen,
                          gai_strerror(rc));
    s->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->lfd >= 0)
        setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s->lfd < 0 || bind(s->lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s->lfd, 1024) != 0) {
        int e = errno;
        freeaddrinfo(ai);
        return tp_err_set(TP_IO, errstr, errstr_size, "mqtt.listen \"%s\": %s", s->cfg.listen,
                          strerror(e));
    }
    freeaddrinfo(ai);
    snprintf(s->address, sizeof(s->address), "%s", s->cfg.listen);
    return TP_OK;
}

enum tp_err mqtt_server_new(struct ingest *ing, const struct mqtt_server_config *cfg,
                            struct mqtt_server **out, char *errstr, size_t errstr_size)
{
    struct mqtt_server *s = tp_calloc(1, sizeof(*s));
    s->ing = ing;
    s->cfg = *cfg;
    s->lfd = s->efd = s->ep = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->lim = (struct mqtt_limits){.max_packet = (uint32_t)cfg->max_packet,
                                  .max_connect_packet = (uint32_t)cfg->max_connect_packet,
                                  .max_topic = (uint16_t)cfg->max_topic,
                                  .max_client_id = (uint16_t)cfg->max_client_id,
                                  .max_qos = 1,
                                  .refuse_will = true,
                                  .refuse_auth = true};
    /* every connection is a descriptor: the soft limit is raised to the hard one, and the
     * connections, the busy ones and the service's own descriptors must fit under it */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)cfg->max_connections + MQTT_BUSY_EXTRA + MQTT_OWN_FDS > rl.rlim_cur) {
        *out = s;
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "mqtt.max_connections %d + %d (CONNACK busy) + %d of the service's own "
                          "does not fit the descriptor limit %llu (ulimit -n): lower "
                          "mqtt.max_connections or raise the limit",
                          cfg->max_connections, MQTT_BUSY_EXTRA, MQTT_OWN_FDS,
                          (unsigned long long)rl.rlim_cur);
    }
    s->n_slots = (uint32_t)cfg->max_connections + MQTT_BUSY_EXTRA;
    s->conns = tp_calloc(s->n_slots, sizeof(*s->conns));
    s->touched = tp_calloc(s->n_slots, sizeof(*s->touched));
    *out = s;
    enum tp_err err = server_bind(s, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->efd < 0 || s->ep < 0)
        return tp_err_set(TP_IO, errstr, errstr_size, "mqtt: epoll/eventfd: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX - 1};
    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev);
    ev.data.u32 = UINT32_MAX;
    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->efd, &ev);
    return TP_OK;
}

enum tp_err mqtt_server_start(struct mqtt_server *s, char *errstr, size_t errstr_size)
{
    s->beat = service_beat_new(NULL, "ingest mqtt loop", s->cfg.health_stall_ms);
    if (pthread_create(&s->thread, NULL, server_loop, s) != 0)
        return tp_err_set(TP_IO, errstr, errstr_size, "mqtt: cannot start the loop thread");
    s->started = true;
    return TP_OK;
}

const char *mqtt_server_address(const struct mqtt_server *s)
{
    return s->address;
}

void mqtt_server_begin_drain(struct mqtt_server *s)
{
    if (!s)
        return;
    s->drain_deadline_ms = tp_mono_ms() + 30000;
    atomic_store(&s->draining, true);
}

void mqtt_server_drain(struct mqtt_server *s, int timeout_ms)
{
    if (!s || !s->started)
        return;
    s->drain_deadline_ms = tp_mono_ms() + timeout_ms;
    atomic_store(&s->draining, true);
    int64_t give_up = s->drain_deadline_ms + 5000;
    while (!atomic_load(&s->exited) && tp_mono_ms() < give_up)
        usleep(20000);
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    s->started = false;
}

static void metrics_by_reason(struct buf *b, const char *name, const char *label, const char *help,
                              _Atomic uint64_t *counts, int n, bool connack)
{
    char labels[96];
    for (int r = 0; r < n; r++) {
        const char *l;
        if (r == DISC_CLIENT)
            l = "client";
        else if (r == DISC_EOF)
            l = "eof";
        else if (r == MQTT_R_SUCCESS)
            l = connack ? "accepted" : NULL;
        else {
            enum mqtt_answer a = mqtt_reason_answer5((enum mqtt_reason)r);
            bool closes = a == MQTT_ANSWER_DISCONNECT ||
                          mqtt_reason_answer4((enum mqtt_reason)r) == MQTT_ANSWER_CLOSE;
            if (connack ? a != MQTT_ANSWER_CONNACK : (a == MQTT_ANSWER_CONNACK || !closes))
                continue;
            l = mqtt_reason_label((enum mqtt_reason)r);
        }
        if (!l)
            continue;
        snprintf(labels, sizeof(labels), "%s=\"%s\"", label, l);
        metrics_sample(b, name, "counter", help, labels, (double)atomic_load(&counts[r]));
        help = NULL;
    }
}

void mqtt_server_metrics(void *arg, struct buf *b)
{
    struct mqtt_server *s = arg;
    metrics_sample(b, "tp_ingest_mqtt_connections", "gauge", "MQTT connections past CONNACK", NULL,
                   (double)atomic_load(&s->connections));
    metrics_by_reason(b, "tp_ingest_mqtt_connects_total", "result",
                      "MQTT CONNECTs answered, by result", s->connects, MQTT_R__COUNT, true);
    metrics_by_reason(b, "tp_ingest_mqtt_disconnects_total", "reason",
                      "MQTT connections closed, by reason", s->disconnects, MQTT_R__COUNT + 2,
                      false);
    const char *help = "MQTT PUBLISHes, by QoS and outcome";
    char labels[96];
    for (int q = 0; q < 2; q++)
        for (int o = 0; o < PUB__COUNT; o++) {
            snprintf(labels, sizeof(labels), "qos=\"%d\",outcome=\"%s\"", q, pub_outcome[o]);
            metrics_sample(b, "tp_ingest_mqtt_publishes_total", "counter", help, labels,
                           (double)atomic_load(&s->publishes[q][o]));
            help = NULL;
        }
    metrics_sample(b, "tp_ingest_mqtt_subscriptions_total", "counter",
                   "MQTT SUBSCRIBE filters, by result", "result=\"granted\"",
                   (double)atomic_load(&s->subscribes_granted));
    metrics_sample(b, "tp_ingest_mqtt_subscriptions_total", "counter", NULL, "result=\"refused\"",
                   (double)atomic_load(&s->subscribes_refused));
    metrics_sample(b, "tp_ingest_mqtt_inflight_messages", "gauge",
                   "QoS 1 PUBLISHes waiting for their PUBACK", NULL,
                   (double)atomic_load(&s->inflight));
    metrics_sample(b, "tp_ingest_mqtt_ack_ring_slots", "gauge",
                   "PUBACK slots allocated in the connections' ack rings (none while idle)", NULL,
                   (double)atomic_load(&s->ring_slots));
    metrics_sample(b, "tp_ingest_mqtt_paused_connections", "gauge",
                   "MQTT connections not read (backpressure)", NULL,
                   (double)atomic_load(&s->paused_conns));
    metrics_sample(b, "tp_ingest_mqtt_bytes_read_total", "counter", "bytes read from MQTT clients",
                   NULL, (double)atomic_load(&s->bytes_read));
    metrics_sample(b, "tp_ingest_mqtt_bytes_written_total", "counter",
                   "bytes written to MQTT clients", NULL, (double)atomic_load(&s->bytes_written));
    metrics_histogram_write(b, "tp_ingest_mqtt_puback_seconds",
                            "from a QoS 1 PUBLISH read to its PUBACK queued", &s->puback_latency);
}

void mqtt_server_free(struct mqtt_server *s)
{
    if (!s)
        return;
    if (s->started) {
        atomic_store(&s->stop, true);
        pthread_join(s->thread, NULL);
    }
    struct mqtt_ticket *t = s->done;
    while (t) {
        struct mqtt_ticket *n = t->next;
        free(t->period);
        free(t);
        t = n;
    }
    for (uint32_t i = 0; i < s->n_slots; i++)
        if (s->conns[i]) {
            if (s->conns[i]->fd >= 0)
                close(s->conns[i]->fd);
            conn_free(s, s->conns[i]);
        }
    free(s->conns);
    free(s->touched);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->efd >= 0)
        close(s->efd);
    if (s->ep >= 0)
        close(s->ep);
    service_beat_free(s->beat);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
