#include "mqtt.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "load_int.h"
#include "outbox.h"
#include "token/auth.h"

#define MQ_KEEPALIVE_S     60
#define MQ_PING_AFTER_US   (30 * 1000000LL) /* nothing written for this long: PINGREQ */
#define MQ_ACK_TIMEOUT_US  (60 * 1000000LL) /* a PUBLISH without PUBACK: the connection is lost */
#define MQ_CONN_TIMEOUT_US (30 * 1000000LL) /* socket connect -> CONNACK */
#define MQ_PENDING_MAX     256              /* connects waiting for their CONNACK at once */
#define MQ_READ_MAX        65536
#define MQ_LOG_MAX         5 /* lines of each kind of trouble */

enum tp_err load_mqtt_url_parse(const char *url, char *host, size_t host_size, uint16_t *port,
                                char *errstr, size_t errstr_size)
{
    const char *p = url ? url : "";
    if (!strncmp(p, "mqtt://", 7))
        p += 7;
    const char *colon = strrchr(p, ':');
    const char *h = p;
    size_t hl = colon ? (size_t)(colon - p) : 0;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char *end = NULL;
    long v = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || !hl || hl >= host_size || memchr(h, '/', hl) || !end || end == colon + 1 ||
        *end || v < 1 || v > 65535)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "loadgen.mqtt_url \"%s\" is not host:port or mqtt://host:port", url);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)v;
    return TP_OK;
}

enum tp_err load_mqtt_fd_check(size_t connections, uint64_t limit, char *errstr, size_t errstr_size)
{
    uint64_t need = (uint64_t)connections + LOAD_MQTT_FD_RESERVE;
    if (need > limit)
        return tp_err_set(TP_CONFIG, errstr, errstr_size,
                          "%zu MQTT connections need %llu descriptors, but RLIMIT_NOFILE allows "
                          "%llu (the hard limit, ulimit -Hn): run several tp-loadgen processes "
                          "with fewer devices (or gateway connections) each",
                          connections, (unsigned long long)need, (unsigned long long)limit);
    return TP_OK;
}

enum load_mqtt_outcome load_mqtt_judge(uint8_t version, uint8_t code, uint32_t dead_lettered,
                                       size_t n, size_t n_invalid)
{
    if (version == 5 && code == 0x83 && n_invalid == n && n > 0)
        return LOAD_MQTT_ALL_REJECTED;
    if (code >= 0x80)
        return LOAD_MQTT_FAILED;
    return dead_lettered == n_invalid ? LOAD_MQTT_ACCEPTED : LOAD_MQTT_MISMATCH;
}

uint32_t load_mqtt_dead_lettered(const struct mqtt_props *props)
{
    struct mqtt_bin name, value;
    for (uint32_t i = 0; mqtt_props_user(props, i, &name, &value); i++) {
        if (name.len != 16 || memcmp(name.p, "tp-dead-lettered", 16))
            continue;
        uint32_t v = 0;
        for (uint16_t k = 0; k < value.len; k++) {
            if (value.p[k] < '0' || value.p[k] > '9' || v > 100000000u)
                return 0;
            v = v * 10 + (uint32_t)(value.p[k] - '0');
        }
        return v;
    }
    return 0;
}

enum tp_err load_mqtt_prepare(const struct load_options *o, char *errstr, size_t errstr_size)
{
    char host[256];
    uint16_t port;
    enum tp_err err =
        load_mqtt_url_parse(o->mqtt_url, host, sizeof(host), &port, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    if (o->mqtt_version != 4 && o->mqtt_version != 5)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "loadgen.mqtt_version must be 4 or 5");
    if (o->mqtt_inflight < 1 || o->mqtt_inflight > OUTBOX_MAX - 1)
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "loadgen.mqtt_inflight must be 1..%u",
                          OUTBOX_MAX - 1);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return tp_err_set(TP_IO, errstr, errstr_size, "getrlimit: %s", strerror(errno));
    if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < (rlim_t)o->connections + LOAD_MQTT_FD_RESERVE) {
        rl.rlim_cur = rl.rlim_max; /* the soft limit up to the hard one */
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return load_mqtt_fd_check(o->connections, (uint64_t)rl.rlim_cur, errstr, errstr_size);
}

/* ---- the loop ---- */

enum mq_state { MQ_CLOSED, MQ_CONNECTING, MQ_CONNACK_WAIT, MQ_UP, MQ_DONE };

struct mq_conn {
    int fd;
    enum mq_state state;
    size_t idx, n_devs, rr;
    uint64_t quota, made; /* a fixed-size job: this connection's share of the readings */
    struct pace pace;
    struct mqtt_decoder dec;
    uint8_t *body; /* the decoder's buffer for a partial packet */
    uint8_t *out;  /* unwritten bytes [out_off, out_len) */
    size_t out_off, out_len, out_cap;
    bool want_out; /* EPOLLOUT asked */
    struct outbox box;
    uint32_t window;
    unsigned failures; /* failed connects in a row */
    int64_t retry_at_us, state_us, last_tx_us;
};

struct mq {
    struct load *l;
    int ep;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct mq_conn *conns;
    size_t n, pending, done;
    struct mqtt_limits lim;
    struct load_item *items; /* scratch: one PUBLISH's items */
    unsigned logged_refused, logged_failed, logged_lost, logged_mismatch;
    uint8_t scratch[MQ_READ_MAX];
};

static void mq_topic(const char *device, char *out, size_t n)
{
    snprintf(out, n, "twinpipe/v1/%s/telemetry", device);
}

static const char *mq_device(struct mq *m, size_t d)
{
    return m->l->res->fleet->vehicles[d].device_id;
}

static void mq_events(struct mq *m, struct mq_conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(m->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Appends pkt's bytes to the connection's output. */
static void mq_put(struct mq *m, struct mq_conn *c, const struct mqtt_packet *pkt, size_t hint)
{
    uint8_t v = (uint8_t)m->l->opt->mqtt_version;
    for (;;) {
        size_t len = 0;
        if (c->out_cap - c->out_len < hint) {
            c->out_cap = c->out_len + hint + 256;
            c->out = tp_realloc(c->out, c->out_cap);
        }
        enum tp_err e = mqtt_encode(v, pkt, c->out + c->out_len, c->out_cap - c->out_len, &len);
        if (e == TP_OK) {
            c->out_len += len;
            return;
        }
        if (e != TP_TOO_LARGE || len <= hint) {
            log_error("mqtt: could not encode packet type %d: %s", (int)pkt->type, tp_err_desc(e));
            return;
        }
        hint = len;
    }
}

static void mq_lost(struct mq *m, struct mq_conn *c, int64_t now, const char *why);

/* Writes what the socket takes; asks for EPOLLOUT while bytes are left. */
static void mq_flush(struct mq *m, struct mq_conn *c, int64_t now)
{
    while (c->fd >= 0 && c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (w < 0) {
            mq_lost(m, c, now, strerror(errno));
            return;
        }
        c->out_off += (size_t)w;
        c->last_tx_us = now;
    }
    if (c->fd < 0)
        return;
    bool left = c->out_off < c->out_len;
    if (!left) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > 4096) { /* an idle connection keeps no large buffer */
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
    }
    if (left != c->want_out) {
        c->want_out = left;
        mq_events(m, c);
    }
}

/* Marks the devices of every reading still in the box "uncertain" (perhaps journaled) and
 * empties it: the connection is given up. */
static void mq_give_up(struct mq *m, struct mq_conn *c)
{
    struct load_result *res = m->l->res;
    for (uint32_t i = 0; i < c->box.n; i++) {
        struct outbox_entry *e = outbox_at(&c->box, i);
        if (!e->done)
            res->expect[e->device].uncertain = true;
        e->done = true;
    }
    outbox_pop_done(&c->box);
    res->given_up++;
    c->state = MQ_DONE;
    m->done++;
}

static void mq_lost(struct mq *m, struct mq_conn *c, int64_t now, const char *why)
{
    struct load *l = m->l;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->body);
    c->body = NULL;
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
    c->want_out = false;
    bool connecting = c->state == MQ_CONNECTING || c->state == MQ_CONNACK_WAIT;
    if (connecting) {
        m->pending--;
        c->failures++;
    } else if (c->state == MQ_UP) {
        l->res->reconnects++;
    }
    outbox_unsend(&c->box);
    if (m->logged_lost++ < MQ_LOG_MAX)
        log_warn("mqtt: connection %zu %s: %s (%u PUBLISHes waiting for a PUBACK, sent again "
                 "after the next CONNACK)",
                 c->idx, connecting ? "could not connect" : "lost", why, c->box.n);
    c->state = MQ_CLOSED;
    if (c->failures > l->opt->retries) {
        mq_give_up(m, c);
        return;
    }
    int64_t backoff = 100000LL << (c->failures < 6 ? c->failures : 6); /* 0.1 .. 6.4 s */
    c->retry_at_us = now + (int64_t)((double)backoff * (0.5 + load_unit(l)));
}

static void mq_connect(struct mq *m, struct mq_conn *c, int64_t now)
{
    int fd = socket(m->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        c->state = MQ_CONNECTING;
        m->pending++;
        mq_lost(m, c, now, strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->state = MQ_CONNECTING;
    c->state_us = c->last_tx_us = now;
    m->pending++;
    if (connect(fd, (struct sockaddr *)&m->addr, m->addr_len) != 0 && errno != EINPROGRESS) {
        mq_lost(m, c, now, strerror(errno));
        return;
    }
    c->want_out = true;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev);
    mqtt_decoder_init_client(&c->dec, (uint8_t)m->l->opt->mqtt_version, &m->lim);
}

/* The socket is connected: CONNECT with the connection's credentials. */
static void mq_send_connect(struct mq *m, struct mq_conn *c, int64_t now)
{
    const struct load_options *o = m->l->opt;
    char client_id[64], tok[AUTH_TOKEN_MAX + 1] = "";
    const char *user = NULL, *password = NULL;
    if (o->secret) {
        const char *dev = mq_device(m, c->idx);
        snprintf(client_id, sizeof(client_id), "%s", dev);
        struct auth_claims cl = {.kind = AUTH_DEVICE, .expiry_s = tp_now_ms() / 1000 + 3600};
        char why[128];
        snprintf(cl.scope, sizeof(cl.scope), "%s", dev);
        if (auth_mint(o->secret, &cl, tok, sizeof(tok), why, sizeof(why)) != TP_OK)
            log_error("mqtt: could not mint a token for \"%s\": %s", dev, why);
        user = dev;
        password = tok;
    } else {
        snprintf(client_id, sizeof(client_id), "tp-loadgen-%d-%zu", (int)getpid(), c->idx);
        if (o->token) {
            user = "tp-loadgen";
            password = o->token;
        }
    }
    struct mqtt_packet p = {.type = MQTT_CONNECT};
    struct mqtt_connect *cn = &p.u.connect;
    cn->level = (uint8_t)o->mqtt_version;
    cn->clean_start = true;
    cn->keep_alive = MQ_KEEPALIVE_S;
    cn->client_id = (struct mqtt_bin){(const uint8_t *)client_id, (uint16_t)strlen(client_id)};
    if (user) {
        cn->has_username = cn->has_password = true;
        cn->username = (struct mqtt_bin){(const uint8_t *)user, (uint16_t)strlen(user)};
        cn->password = (struct mqtt_bin){(const uint8_t *)password, (uint16_t)strlen(password)};
    }
    mq_put(m, c, &p, 1024);
    c->state = MQ_CONNACK_WAIT;
    mq_flush(m, c, now);
}

/* Writes entry e as a QoS 1 PUBLISH. */
static void mq_publish(struct mq *m, struct mq_conn *c, struct outbox_entry *e, int64_t now)
{
    char topic[192];
    mq_topic(mq_device(m, e->device), topic, sizeof(topic));
    struct mqtt_packet p = {.type = MQTT_PUBLISH};
    struct mqtt_publish *pb = &p.u.publish;
    pb->qos = 1;
    pb->packet_id = e->packet_id;
    pb->topic = (struct mqtt_bin){(const uint8_t *)topic, (uint16_t)strlen(topic)};
    pb->payload = e->payload;
    pb->payload_len = e->payload_len;
    mq_put(m, c, &p, e->payload_len + strlen(topic) + 16);
    if (e->sends++)
        m->l->res->republished++;
    e->sent = true;
    e->sent_us = now;
}

/* A new PUBLISH of n readings of the connection's next device into its outbox. */
static struct outbox_entry *mq_build(struct mq *m, struct mq_conn *c, size_t n)
{
    struct load *l = m->l;
    size_t d = load_pick(l, c->idx, c->n_devs, &c->rr);
    for (size_t i = 0; i < n; i++)
        load_reading(l, d, i, &m->items[i]);
    Twinpipe__Telemetry__V1__ReadingBatch b = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    b.readings = l->ptrs;
    b.n_readings = n;
    struct outbox_entry *e = outbox_push(&c->box);
    e->payload_len = protobuf_c_message_get_packed_size(&b.base);
    e->payload = tp_malloc(e->payload_len ? e->payload_len : 1);
    protobuf_c_message_pack(&b.base, e->payload);
    e->items = tp_malloc(n * sizeof(struct load_item));
    memcpy(e->items, m->items, n * sizeof(struct load_item));
    e->n_items = (uint32_t)n;
    e->device = (uint32_t)d;
    l->generated += n;
    return e;
}

/* An up connection sends what its outbox holds unsent (after a reconnect), then new
 * PUBLISHes while its window has room and its pace has readings due. */
static void mq_pump(struct mq *m, struct mq_conn *c, int64_t now)
{
    struct load *l = m->l;
    const struct load_options *o = l->opt;
    if (c->state != MQ_UP)
        return;
    for (struct outbox_entry *e = outbox_next_unsent(&c->box, NULL); e;
         e = outbox_next_unsent(&c->box, e))
        mq_publish(m, c, e, now);
    double elapsed = (double)(now - l->t0_us) / 1e6;
    struct pace *p = o->period_ms > 0 ? &c->pace : &l->pace;
    while (!l->stop && c->box.n < c->window) {
        size_t n = pace_due(p, elapsed);
        if (o->readings && c->quota - c->made < n)
            n = (size_t)(c->quota - c->made);
        if (!n)
            break;
        pace_sent(p, n);
        c->made += n;
        mq_publish(m, c, mq_build(m, c, n), now);
        load_check_stop(l, now);
    }
    mq_flush(m, c, now);
}

static void mq_connack(struct mq *m, struct mq_conn *c, const struct mqtt_connack *ca, int64_t now)
{
    struct load *l = m->l;
    const struct load_options *o = l->opt;
    if (c->state != MQ_CONNACK_WAIT) {
        mq_lost(m, c, now, "a second CONNACK");
        return;
    }
    if (ca->code != 0) {
        l->res->connects_refused++;
        if (m->logged_refused++ < MQ_LOG_MAX)
            log_warn("mqtt: connection %zu: CONNACK refused with code 0x%02x", c->idx, ca->code);
        mq_lost(m, c, now, "CONNACK refused");
        return;
    }
    m->pending--;
    l->res->connects++;
    c->failures = 0;
    c->state = MQ_UP;
    c->window = (uint32_t)o->mqtt_inflight;
    if (o->mqtt_version == 5 && (ca->props.present & MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM)) &&
        ca->props.receive_maximum < c->window)
        c->window = ca->props.receive_maximum;
}

static void mq_puback(struct mq *m, struct mq_conn *c, const struct mqtt_ack *a, int64_t now)
{
    struct load *l = m->l;
    struct load_result *res = l->res;
    struct outbox_entry *e = outbox_ack(&c->box, a->packet_id);
    if (!e) {
        mq_lost(m, c, now, "a PUBACK for a packet id not in flight");
        return;
    }
    uint8_t v = (uint8_t)l->opt->mqtt_version;
    uint8_t code = v == 5 ? a->code : 0;
    uint64_t us = (uint64_t)(now - e->sent_us);
    hist_add(&res->latency, us);
    hist_add(&l->tick_hist, us);
    res->puback_codes[code]++;
    res->requests++;
    l->tick.requests++;
    const struct load_item *items = e->items;
    size_t n_invalid = 0;
    for (uint32_t i = 0; i < e->n_items; i++)
        n_invalid += items[i].kind == LOAD_INVALID;
    uint32_t dl = v == 5 ? load_mqtt_dead_lettered(&a->props) : 0;
    uint64_t before = res->accepted;
    switch (load_mqtt_judge(v, code, dl, e->n_items, n_invalid)) {
    case LOAD_MQTT_ACCEPTED:
    case LOAD_MQTT_ALL_REJECTED:
        res->sent += e->n_items;
        l->tick.sent += e->n_items;
        for (uint32_t i = 0; i < e->n_items; i++)
            load_settle(l, &items[i], items[i].kind == LOAD_INVALID);
        break;
    case LOAD_MQTT_MISMATCH:
        res->sent += e->n_items;
        l->tick.sent += e->n_items;
        res->accepted += e->n_items - (dl < e->n_items ? dl : e->n_items);
        res->rejected += dl < e->n_items ? dl : e->n_items;
        if (dl > n_invalid)
            res->valid_rejected += dl - n_invalid;
        else
            res->invalid_passed += n_invalid - dl;
        res->expect[e->device].uncertain = true;
        if (m->logged_mismatch++ < MQ_LOG_MAX)
            log_warn("mqtt: PUBACK of %u readings (%zu invalid) says %u dead-lettered", e->n_items,
                     n_invalid, dl);
        break;
    case LOAD_MQTT_FAILED:
        res->failed_requests++;
        l->tick.failed++;
        if (m->logged_failed++ < MQ_LOG_MAX)
            log_warn("mqtt: PUBLISH of %u readings of \"%s\" failed: PUBACK reason code 0x%02x",
                     e->n_items, mq_device(m, e->device), code);
        break;
    }
    l->tick.accepted += res->accepted - before;
    outbox_pop_done(&c->box); /* the window's room is used once the whole read is handled */
}

static void mq_packet(struct mq *m, struct mq_conn *c, const struct mqtt_packet *pkt, int64_t now)
{
    switch (pkt->type) {
    case MQTT_CONNACK:
        mq_connack(m, c, &pkt->u.connack, now);
        break;
    case MQTT_PUBACK:
        mq_puback(m, c, &pkt->u.ack, now);
        break;
    case MQTT_DISCONNECT: {
        char why[64];
        snprintf(why, sizeof(why), "DISCONNECT from the server, reason code 0x%02x",
                 pkt->u.disconnect.code);
        mq_lost(m, c, now, why);
        break;
    }
    default: /* PINGRESP; nothing is subscribed, so no PUBLISH comes */
        break;
    }
}

static void mq_read(struct mq *m, struct mq_conn *c, int64_t now)
{
    ssize_t r = recv(c->fd, m->scratch, sizeof(m->scratch), 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        mq_lost(m, c, now, r == 0 ? "closed by the server" : strerror(errno));
        return;
    }
    const uint8_t *data = m->scratch;
    size_t len = (size_t)r;
    while (len && c->fd >= 0) {
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
        } else if (st == MQTT_STEP_ERROR) {
            mq_lost(m, c, now, mqtt_reason_when(why));
        } else if (st == MQTT_STEP_PACKET) {
            mq_packet(m, c, &pkt, now);
            if (c->fd >= 0 && c->body && !mqtt_decoder_busy(&c->dec)) {
                mqtt_decoder_set_buffer(&c->dec, NULL, 0);
                free(c->body);
                c->body = NULL;
            }
        }
    }
    /* after a CONNACK or PUBACKs: what is due, written at once */
    if (c->fd >= 0)
        mq_pump(m, c, now);
}

static void mq_event(struct mq *m, struct mq_conn *c, uint32_t events, int64_t now)
{
    if (c->state == MQ_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            mq_lost(m, c, now, strerror(err));
            return;
        }
        mq_send_connect(m, c, now);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        mq_read(m, c, now);
    if (c->fd >= 0 && (events & EPOLLOUT))
        mq_flush(m, c, now);
}

/* One pass over every connection: connects due (at most MQ_PENDING_MAX waiting), readings
 * due, timeouts, keep-alive. Returns whether the run is over: stopped, and no connection
 * holds an unacknowledged PUBLISH. */
static bool mq_scan(struct mq *m, int64_t now)
{
    struct load *l = m->l;
    bool busy = false;
    for (size_t i = 0; i < m->n; i++) {
        struct mq_conn *c = &m->conns[i];
        if (c->state == MQ_DONE)
            continue;
        if (l->stop && !c->box.n) {
            if (c->state == MQ_CLOSED) { /* nothing left to send: no need to connect */
                c->state = MQ_DONE;
                m->done++;
            }
            continue;
        }
        busy = true;
        if (c->state == MQ_CLOSED && now >= c->retry_at_us && m->pending < MQ_PENDING_MAX)
            mq_connect(m, c, now);
        else if ((c->state == MQ_CONNECTING || c->state == MQ_CONNACK_WAIT) &&
                 now - c->state_us > MQ_CONN_TIMEOUT_US)
            mq_lost(m, c, now, "no CONNACK in 30 s");
        else if (c->state == MQ_UP && c->box.n && outbox_at(&c->box, 0)->sent &&
                 now - outbox_at(&c->box, 0)->sent_us > MQ_ACK_TIMEOUT_US)
            mq_lost(m, c, now, "no PUBACK in 60 s");
        else if (c->state == MQ_UP) {
            if (now - c->last_tx_us > MQ_PING_AFTER_US) {
                struct mqtt_packet p = {.type = MQTT_PINGREQ};
                mq_put(m, c, &p, 8);
            }
            mq_pump(m, c, now);
        }
    }
    return !busy;
}

/* DISCONNECT (best effort) and close every connection; free what they hold. */
static void mq_close_all(struct mq *m)
{
    for (size_t i = 0; i < m->n; i++) {
        struct mq_conn *c = &m->conns[i];
        if (c->fd >= 0) {
            if (c->state == MQ_UP) {
                uint8_t d[8];
                size_t len = 0;
                struct mqtt_packet p = {.type = MQTT_DISCONNECT};
                if (mqtt_encode((uint8_t)m->l->opt->mqtt_version, &p, d, sizeof(d), &len) == TP_OK)
                    (void)!send(c->fd, d, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            close(c->fd);
        }
        free(c->body);
        free(c->out);
        outbox_release(&c->box);
    }
}

/* Resolves the broker's address once. */
static bool mq_resolve(struct mq *m)
{
    char host[256], port_s[8], errstr[256];
    uint16_t port;
    if (load_mqtt_url_parse(m->l->opt->mqtt_url, host, sizeof(host), &port, errstr,
                            sizeof(errstr)) != TP_OK) {
        log_error("%s", errstr);
        return false;
    }
    snprintf(port_s, sizeof(port_s), "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port_s, &hints, &ai);
    if (rc != 0 || !ai) {
        log_error("could not resolve \"%s\": %s", host, gai_strerror(rc));
        return false;
    }
    memcpy(&m->addr, ai->ai_addr, ai->ai_addrlen);
    m->addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return true;
}

void load_mqtt_loop(struct load *l)
{
    const struct load_options *o = l->opt;
    struct mq *m = tp_calloc(1, sizeof(*m));
    m->l = l;
    m->n = o->connections;
    m->ep = epoll_create1(EPOLL_CLOEXEC);
    m->items = tp_calloc(o->batch, sizeof(*m->items));
    m->conns = tp_calloc(m->n, sizeof(*m->conns));
    size_t batch = o->period_ms > 0 ? 1 : o->batch; /* a paced fleet: one reading a PUBLISH */
    for (size_t i = 0; i < m->n; i++) {
        struct mq_conn *c = &m->conns[i];
        c->fd = -1;
        c->idx = i;
        c->n_devs = o->devices / m->n + (i < o->devices % m->n);
        /* each connection its share of a fixed-size job, so each device sends its share
         * whichever connections are up first (a shared count would go to those) */
        c->quota = o->readings / m->n + (i < o->readings % m->n);
        if (o->period_ms > 0)
            pace_fleet(&c->pace, i, m->n, c->n_devs, o->devices, o->period_ms, o->rate, batch);
        outbox_init(&c->box, (uint32_t)o->mqtt_inflight);
    }
    l->t0_us = tp_mono_us();
    l->res->t0_unix_ms = tp_now_ms();
    if (!mq_resolve(m)) {
        for (size_t i = 0; i < m->n; i++)
            mq_give_up(m, &m->conns[i]);
        l->stop = true;
    }
    int64_t next_tick = l->t0_us + 1000000;
    int wait_ms = !l->paced ? 10 : o->period_ms >= 5000 ? 20 : 2;
    struct epoll_event evs[512];
    for (;;) {
        int64_t now = tp_mono_us();
        load_check_stop(l, now);
        if (mq_scan(m, now))
            break;
        int k = epoll_wait(m->ep, evs, 512, wait_ms);
        now = tp_mono_us();
        for (int i = 0; i < k; i++) {
            struct mq_conn *c = evs[i].data.ptr;
            if (c->fd >= 0)
                mq_event(m, c, evs[i].events, now);
        }
        while (now >= next_tick) {
            load_tick_close(l, (double)(next_tick - l->t0_us) / 1e6, false);
            next_tick += 1000000;
        }
        load_progress(l, now, false);
    }
    int64_t end = tp_mono_us();
    l->res->seconds = (double)(end - l->t0_us) / 1e6;
    if (l->tick.requests || l->tick.sent || l->win_hist.count)
        load_tick_close(l, l->res->seconds, true);
    load_progress(l, end, true);
    mq_close_all(m);
    close(m->ep);
    free(m->conns);
    free(m->items);
    free(m);
}
