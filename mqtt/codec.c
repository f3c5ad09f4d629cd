#include "codec.h"

#include <assert.h>
#include <string.h>

/* ---- reading: a bounded cursor over one packet's body ---- */

struct rd {
    const uint8_t *p;
    size_t len, off;
};

static size_t rd_left(const struct rd *r)
{
    return r->len - r->off;
}

static bool rd_u8(struct rd *r, uint8_t *v)
{
    if (rd_left(r) < 1)
        return false;
    *v = r->p[r->off++];
    return true;
}

static bool rd_u16(struct rd *r, uint16_t *v)
{
    if (rd_left(r) < 2)
        return false;
    *v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
    r->off += 2;
    return true;
}

static bool rd_u32(struct rd *r, uint32_t *v)
{
    if (rd_left(r) < 4)
        return false;
    const uint8_t *b = r->p + r->off;
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    r->off += 4;
    return true;
}

/* A Variable Byte Integer: at most 4 bytes, in the fewest bytes (MQTT-1.5.5-1). */
static bool rd_varint(struct rd *r, uint32_t *v)
{
    uint32_t x = 0;
    for (unsigned i = 0; i < 4; i++) {
        uint8_t b;
        if (!rd_u8(r, &b))
            return false;
        x |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return false; /* overlong: a trailing zero byte */
            *v = x;
            return true;
        }
    }
    return false;
}

static bool rd_bin(struct rd *r, struct mqtt_bin *v)
{
    uint16_t n;
    if (!rd_u16(r, &n) || rd_left(r) < n)
        return false;
    v->p = r->p + r->off;
    v->len = n;
    r->off += n;
    return true;
}

static bool rd_str(struct rd *r, struct mqtt_bin *v)
{
    return rd_bin(r, v) && mqtt_utf8_valid(v->p, v->len);
}

/* ---- strings and topics ---- */

bool mqtt_utf8_valid(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        unsigned n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1fu, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0fu, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (unsigned k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

bool mqtt_topic_name_valid(const uint8_t *p, size_t len, size_t max)
{
    if (len == 0 || (max && len > max))
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '+' || p[i] == '#')
            return false;
    return true;
}

bool mqtt_topic_filter_valid(const uint8_t *p, size_t len, size_t max)
{
    if (len == 0 || (max && len > max))
        return false;
    for (size_t i = 0; i < len; i++) {
        bool starts = i == 0 || p[i - 1] == '/';
        bool ends = i + 1 == len || p[i + 1] == '/';
        if (p[i] == '+' && !(starts && ends))
            return false;
        if (p[i] == '#' && !(starts && i + 1 == len))
            return false;
    }
    return true;
}

static bool client_id_valid(const struct mqtt_bin *id, uint16_t max)
{
    if (max == 0)
        return true;
    if (id->len > max)
        return false;
    for (uint16_t i = 0; i < id->len; i++) {
        uint8_t c = id->p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* ---- MQTT 5 properties ---- */

enum prop_type { PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };

struct prop_row {
    uint8_t known;
    uint8_t type;
    uint32_t packets, multi;
};

static const struct prop_row prop_rows[0x2b] = {
#define MQTT_PROP_ROW(name, id, type, field, packets, multi) [id] = {1, PT_##type, packets, multi},
    MQTT_PROP_TABLE(MQTT_PROP_ROW)
#undef MQTT_PROP_ROW
};

/* Reads one property's value into p (by id). */
static bool prop_value(struct rd *r, uint8_t id, struct mqtt_props *p)
{
    struct mqtt_bin k, v;
    switch (id) {
#define PROP_READ_BYTE(f)   rd_u8(r, &p->f)
#define PROP_READ_U16(f)    rd_u16(r, &p->f)
#define PROP_READ_U32(f)    rd_u32(r, &p->f)
#define PROP_READ_VARINT(f) rd_varint(r, &p->f)
#define PROP_READ_STR(f)    rd_str(r, &p->f)
#define PROP_READ_BIN(f)    rd_bin(r, &p->f)
#define PROP_READ_PAIR(f)   (rd_str(r, &k) && rd_str(r, &v) && (p->n_##f++, true))
#define MQTT_PROP_CASE(name, pid, type, field, packets, multi)                                     \
    case pid:                                                                                      \
        return PROP_READ_##type(field);
        MQTT_PROP_TABLE(MQTT_PROP_CASE)
#undef MQTT_PROP_CASE
    }
    return false;
}

/* Range rules of MQTT 5 section 3: 0/1 flags, nonzero maxima and identifiers, a Response
 * Topic that is a topic name. */
static bool prop_value_ok(uint8_t id, const struct mqtt_props *p)
{
    switch (id) {
    case MQTT_PROP_PAYLOAD_FORMAT:
        return p->payload_format <= 1;
    case MQTT_PROP_REQUEST_PROBLEM_INFO:
        return p->request_problem_info <= 1;
    case MQTT_PROP_REQUEST_RESPONSE_INFO:
        return p->request_response_info <= 1;
    case MQTT_PROP_MAXIMUM_QOS:
        return p->maximum_qos <= 1;
    case MQTT_PROP_RETAIN_AVAILABLE:
        return p->retain_available <= 1;
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
        return p->wildcard_sub_available <= 1;
    case MQTT_PROP_SUB_ID_AVAILABLE:
        return p->sub_id_available <= 1;
    case MQTT_PROP_SHARED_SUB_AVAILABLE:
        return p->shared_sub_available <= 1;
    case MQTT_PROP_RECEIVE_MAXIMUM:
        return p->receive_maximum != 0;
    case MQTT_PROP_MAXIMUM_PACKET_SIZE:
        return p->maximum_packet_size != 0;
    case MQTT_PROP_SUBSCRIPTION_ID:
        return p->subscription_id != 0;
    case MQTT_PROP_RESPONSE_TOPIC: /* a topic name: no wildcards (3.1.3.2.5) */
        return mqtt_topic_name_valid(p->response_topic.p, p->response_topic.len, 0);
    default:
        return true;
    }
}

/* Reads a property length and the properties of a packet kind (MQTT_PK_*). The first
 * Subscription Identifier of a PUBLISH is kept, the others counted. */
static enum mqtt_reason props_read(struct rd *r, uint32_t kind, struct mqtt_props *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t plen;
    if (!rd_varint(r, &plen) || plen > rd_left(r))
        return MQTT_R_MALFORMED;
    struct rd s = {r->p + r->off, plen, 0};
    out->raw = s.p;
    out->raw_len = plen;
    r->off += plen;
    while (rd_left(&s)) {
        uint32_t id;
        if (!rd_varint(&s, &id) || id >= sizeof(prop_rows) / sizeof(prop_rows[0]) ||
            !prop_rows[id].known)
            return MQTT_R_MALFORMED;
        const struct prop_row *row = &prop_rows[id];
        if (!(row->packets & kind))
            return MQTT_R_PROTOCOL_ERROR;
        bool again = (out->present & MQTT_PROP_BIT(id)) != 0;
        if (again && !(row->multi & kind))
            return MQTT_R_PROTOCOL_ERROR;
        if (id == MQTT_PROP_SUBSCRIPTION_ID && again) {
            uint32_t more;
            if (!rd_varint(&s, &more))
                return MQTT_R_MALFORMED;
            if (more == 0)
                return MQTT_R_PROTOCOL_ERROR;
            out->n_subscription_id++;
            continue;
        }
        if (!prop_value(&s, (uint8_t)id, out))
            return MQTT_R_MALFORMED;
        if (!prop_value_ok((uint8_t)id, out))
            return MQTT_R_PROTOCOL_ERROR;
        if (id == MQTT_PROP_SUBSCRIPTION_ID)
            out->n_subscription_id = 1;
        out->present |= MQTT_PROP_BIT(id);
    }
    return MQTT_R_SUCCESS;
}

bool mqtt_props_user(const struct mqtt_props *p, uint32_t i, struct mqtt_bin *name,
                     struct mqtt_bin *value)
{
    struct rd s = {p->raw, p->raw_len, 0};
    uint32_t seen = 0;
    while (rd_left(&s)) {
        uint32_t id;
        if (!rd_varint(&s, &id))
            return false;
        if (id == MQTT_PROP_USER_PROPERTY) {
            struct mqtt_bin k, v;
            if (!rd_bin(&s, &k) || !rd_bin(&s, &v))
                return false;
            if (seen++ == i) {
                *name = k;
                *value = v;
                return true;
            }
            continue;
        }
        /* skip a value of another property: already validated */
        struct mqtt_props skip;
        memset(&skip, 0, sizeof(skip));
        if (id >= sizeof(prop_rows) / sizeof(prop_rows[0]) || !prop_value(&s, (uint8_t)id, &skip))
            return false;
    }
    return false;
}

bool mqtt_subscribe_next(const struct mqtt_subscribe *sub, size_t *off, struct mqtt_bin *filter,
                         uint8_t *options)
{
    struct rd r = {sub->list, sub->list_len, *off};
    if (!rd_left(&r) || !rd_bin(&r, filter))
        return false;
    uint8_t o = 0;
    if (options && !rd_u8(&r, &o))
        return false;
    if (options)
        *options = o;
    *off = r.off;
    return true;
}

/* ---- the packets ---- */

/* Which packet types a side reads, per version (bit = type). */
static uint32_t side_types(enum mqtt_side side, uint8_t version)
{
    if (side == MQTT_SERVER)
        return MQTT_PK(MQTT_CONNECT) | MQTT_PK(MQTT_PUBLISH) | MQTT_PK(MQTT_PUBACK) |
               MQTT_PK(MQTT_SUBSCRIBE) | MQTT_PK(MQTT_UNSUBSCRIBE) | MQTT_PK(MQTT_PINGREQ) |
               MQTT_PK(MQTT_DISCONNECT);
    return MQTT_PK(MQTT_CONNACK) | MQTT_PK(MQTT_PUBLISH) | MQTT_PK(MQTT_PUBACK) |
           MQTT_PK(MQTT_SUBACK) | MQTT_PK(MQTT_UNSUBACK) | MQTT_PK(MQTT_PINGRESP) |
           (version == 5 ? MQTT_PK(MQTT_DISCONNECT) : 0);
}

/* The fixed header's checks, before any byte of the body is kept. */
static enum mqtt_reason header_check(const struct mqtt_decoder *d, uint8_t b0, uint32_t total)
{
    unsigned type = b0 >> 4, flags = b0 & 0x0fu;
    /* type 0 is reserved in both versions, 15 (AUTH) in 3.1.1 */
    if (type == 0 || (type == MQTT_AUTH && d->version != 5))
        return MQTT_R_MALFORMED;
    /* reserved flag bits: 0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE, 0000 for the others */
    if (type != MQTT_PUBLISH) {
        unsigned want =
            (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE) ? 2u : 0u;
        if (flags != want)
            return MQTT_R_MALFORMED;
    }
    if (d->side == MQTT_SERVER && d->version == 0 && type != MQTT_CONNECT)
        return MQTT_R_PROTOCOL_ERROR;
    if (d->side == MQTT_SERVER && d->version != 0 && type == MQTT_CONNECT)
        return MQTT_R_PROTOCOL_ERROR;
    if (!(side_types(d->side, d->version) & MQTT_PK(type)))
        return MQTT_R_PROTOCOL_ERROR;
    uint32_t max = d->lim.max_packet ? d->lim.max_packet : MQTT_PACKET_MAX;
    if (type == MQTT_CONNECT && d->lim.max_connect_packet && d->lim.max_connect_packet < max)
        max = d->lim.max_connect_packet;
    if (total > max)
        return MQTT_R_PACKET_TOO_LARGE;
    if (type == MQTT_PUBLISH) {
        unsigned qos = flags >> 1 & 3u;
        if (qos == 3)
            return MQTT_R_MALFORMED;
        if (qos == 0 && (flags & 8u))
            return MQTT_R_MALFORMED; /* DUP with QoS 0: MQTT-3.3.1-2 */
        if (qos > d->lim.max_qos)
            return MQTT_R_QOS_NOT_SUPPORTED;
        if ((flags & 1u) && !d->lim.retain_available)
            return MQTT_R_RETAIN_NOT_SUPPORTED;
    }
    return MQTT_R_SUCCESS;
}

/* Bad field of the running version: malformed in both (3.1.1 has no other answer). */
#define NEED(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return MQTT_R_MALFORMED;                                                               \
    } while (0)
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        enum mqtt_reason tr_ = (expr);                                                             \
        if (tr_ != MQTT_R_SUCCESS)                                                                 \
            return tr_;                                                                            \
    } while (0)

static enum mqtt_reason decode_connect(struct mqtt_decoder *d, struct rd *r, struct mqtt_packet *pk)
{
    struct mqtt_connect *c = &pk->u.connect;
    struct mqtt_bin name;
    uint8_t level, flags;
    NEED(rd_bin(r, &name) && rd_u8(r, &level));
    bool mqtt = name.len == 4 && memcmp(name.p, "MQTT", 4) == 0;
    bool mqisdp = name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0;
    if (mqisdp || (mqtt && level != 4 && level != 5))
        return MQTT_R_UNSUPPORTED_PROTOCOL;
    NEED(mqtt);
    c->level = level;
    NEED(rd_u8(r, &flags) && rd_u16(r, &c->keep_alive));
    NEED(!(flags & 1u)); /* reserved: MQTT-3.1.2-3 */
    c->clean_start = flags & 2u;
    c->will = flags & 4u;
    c->will_qos = flags >> 3 & 3u;
    c->will_retain = flags & 0x20u;
    c->has_password = flags & 0x40u;
    c->has_username = flags & 0x80u;
    NEED(c->will_qos != 3);
    NEED(c->will || (c->will_qos == 0 && !c->will_retain));  /* MQTT-3.1.2-11, -13, -15 */
    NEED(level == 5 || c->has_username || !c->has_password); /* 3.1.1: MQTT-3.1.2-22 */
    if (level == 5) {
        TRY(props_read(r, MQTT_PK(MQTT_CONNECT), &c->props));
        /* Authentication Data without a Method (3.1.2.11.10) */
        if ((c->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA)) &&
            !(c->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)))
            return MQTT_R_PROTOCOL_ERROR;
    }
    NEED(rd_str(r, &c->client_id));
    if (c->will) {
        if (level == 5)
            TRY(props_read(r, MQTT_PK_WILL, &c->will_props));
        NEED(rd_str(r, &c->will_topic));
        NEED(mqtt_topic_name_valid(c->will_topic.p, c->will_topic.len, 0));
        NEED(rd_bin(r, &c->will_payload));
    }
    if (c->has_username)
        NEED(rd_str(r, &c->username));
    if (c->has_password)
        NEED(rd_bin(r, &c->password));
    NEED(rd_left(r) == 0);
    /* well-formed: from here on the answer is a CONNACK of this version */
    d->version = level;
    if (c->client_id.len == 0 ? !c->clean_start
                              : !client_id_valid(&c->client_id, d->lim.max_client_id))
        pk->refusal = MQTT_R_CLIENT_ID_INVALID;
    else if (c->will && d->lim.refuse_will)
        pk->refusal = MQTT_R_WILL_REFUSED;
    else if ((c->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)) && d->lim.refuse_auth)
        pk->refusal = MQTT_R_BAD_AUTH_METHOD;
    return MQTT_R_SUCCESS;
}

static bool connack_code_ok(uint8_t version, uint8_t code)
{
    if (version != 5)
        return code <= 5;
    static const uint8_t ok[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                                 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
    return memchr(ok, code, sizeof(ok)) != NULL;
}

static bool puback_code_ok(uint8_t code)
{
    static const uint8_t ok[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    return memchr(ok, code, sizeof(ok)) != NULL;
}

static bool suback_code_ok(uint8_t version, enum mqtt_type type, uint8_t code)
{
    if (version != 5)
        return code <= 2 || code == 0x80;
    if (type == MQTT_UNSUBACK) {
        static const uint8_t ok[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
        return memchr(ok, code, sizeof(ok)) != NULL;
    }
    static const uint8_t ok[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
    return memchr(ok, code, sizeof(ok)) != NULL;
}

static bool disconnect_code_ok(uint8_t code)
{
    static const uint8_t ok[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
    return memchr(ok, code, sizeof(ok)) != NULL;
}

static enum mqtt_reason decode_publish(struct mqtt_decoder *d, struct rd *r, struct mqtt_packet *pk)
{
    struct mqtt_publish *p = &pk->u.publish;
    p->dup = pk->flags & 8u;
    p->qos = pk->flags >> 1 & 3u;
    p->retain = pk->flags & 1u;
    NEED(rd_bin(r, &p->topic));
    /* the length first: a topic over the limit is not even scanned */
    bool too_long = d->lim.max_topic && p->topic.len > d->lim.max_topic;
    NEED(mqtt_utf8_valid(p->topic.p, p->topic.len));
    if (p->qos > 0) {
        NEED(rd_u16(r, &p->packet_id));
        if (p->packet_id == 0)
            return MQTT_R_PROTOCOL_ERROR; /* MQTT-2.3.1-1 */
    }
    if (d->version == 5) {
        TRY(props_read(r, MQTT_PK(MQTT_PUBLISH), &p->props));
        /* a client's PUBLISH carries no Subscription Identifier (MQTT-3.3.4-6) */
        if (d->side == MQTT_SERVER && p->props.n_subscription_id)
            return MQTT_R_PROTOCOL_ERROR;
        if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS) &&
            (p->props.topic_alias == 0 || p->props.topic_alias > d->lim.topic_alias_max))
            return MQTT_R_TOPIC_ALIAS_INVALID;
    }
    if (p->topic.len == 0 && !(p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)))
        return d->version == 5 ? MQTT_R_PROTOCOL_ERROR : MQTT_R_MALFORMED;
    p->payload = r->p + r->off;
    p->payload_len = rd_left(r);
    r->off = r->len;
    if (too_long || (p->topic.len && !mqtt_topic_name_valid(p->topic.p, p->topic.len, 0)))
        pk->refusal = MQTT_R_TOPIC_NAME_INVALID;
    return MQTT_R_SUCCESS;
}

static enum mqtt_reason decode_subscribe(struct mqtt_decoder *d, struct rd *r,
                                         struct mqtt_packet *pk)
{
    struct mqtt_subscribe *s = &pk->u.sub;
    bool sub = pk->type == MQTT_SUBSCRIBE;
    NEED(rd_u16(r, &s->packet_id));
    if (s->packet_id == 0)
        return MQTT_R_PROTOCOL_ERROR;
    if (d->version == 5)
        TRY(props_read(r, MQTT_PK(pk->type), &s->props));
    s->list = r->p + r->off;
    s->list_len = rd_left(r);
    while (rd_left(r)) {
        struct mqtt_bin f;
        NEED(rd_str(r, &f) && f.len > 0); /* MQTT-4.7.3-1 */
        if (sub) {
            uint8_t o;
            NEED(rd_u8(r, &o));
            NEED((o & 3u) != 3);
            NEED(!(o & (d->version == 5 ? 0xc0u : 0xfcu))); /* reserved bits */
            if (d->version == 5 && (o >> 4 & 3u) == 3)
                return MQTT_R_PROTOCOL_ERROR; /* Retain Handling 3 */
        }
        NEED(s->n < UINT16_MAX);
        s->n++;
    }
    if (s->n == 0) /* MQTT-3.8.3-3, MQTT-3.10.3-2 */
        return d->version == 5 ? MQTT_R_PROTOCOL_ERROR : MQTT_R_MALFORMED;
    return MQTT_R_SUCCESS;
}

static enum mqtt_reason decode_body(struct mqtt_decoder *d, struct rd *r, struct mqtt_packet *pk)
{
    uint8_t v5 = d->version == 5;
    switch (pk->type) {
    case MQTT_CONNECT:
        return decode_connect(d, r, pk);
    case MQTT_PUBLISH:
        return decode_publish(d, r, pk);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return decode_subscribe(d, r, pk);
    case MQTT_CONNACK: {
        struct mqtt_connack *c = &pk->u.connack;
        uint8_t f;
        NEED(rd_u8(r, &f) && rd_u8(r, &c->code));
        NEED(f <= 1);
        c->session_present = f;
        if (!connack_code_ok(d->version, c->code))
            return MQTT_R_PROTOCOL_ERROR;
        if (c->code != 0 && c->session_present) /* MQTT-3.2.2-4 */
            return MQTT_R_PROTOCOL_ERROR;
        if (v5)
            TRY(props_read(r, MQTT_PK(MQTT_CONNACK), &c->props));
        break;
    }
    case MQTT_PUBACK: {
        struct mqtt_ack *a = &pk->u.ack;
        NEED(rd_u16(r, &a->packet_id));
        if (a->packet_id == 0)
            return MQTT_R_PROTOCOL_ERROR;
        if (v5 && rd_left(r)) {
            NEED(rd_u8(r, &a->code));
            if (!puback_code_ok(a->code))
                return MQTT_R_PROTOCOL_ERROR;
            if (rd_left(r))
                TRY(props_read(r, MQTT_PK(MQTT_PUBACK), &a->props));
        }
        break;
    }
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: {
        struct mqtt_suback *s = &pk->u.suback;
        NEED(rd_u16(r, &s->packet_id));
        if (s->packet_id == 0)
            return MQTT_R_PROTOCOL_ERROR;
        if (v5)
            TRY(props_read(r, MQTT_PK(pk->type), &s->props));
        if (pk->type == MQTT_UNSUBACK && !v5)
            break;
        NEED(rd_left(r) > 0 && rd_left(r) <= UINT16_MAX);
        s->codes = r->p + r->off;
        s->n = (uint16_t)rd_left(r);
        r->off = r->len;
        for (uint16_t i = 0; i < s->n; i++)
            if (!suback_code_ok(d->version, pk->type, s->codes[i]))
                return MQTT_R_PROTOCOL_ERROR;
        break;
    }
    case MQTT_DISCONNECT: {
        struct mqtt_disconnect *x = &pk->u.disconnect;
        if (v5 && rd_left(r)) {
            NEED(rd_u8(r, &x->code));
            if (!disconnect_code_ok(x->code))
                return MQTT_R_PROTOCOL_ERROR;
            if (rd_left(r))
                TRY(props_read(r, MQTT_PK(MQTT_DISCONNECT), &x->props));
        }
        break;
    }
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        break;
    default: /* excluded by header_check */
        return MQTT_R_PROTOCOL_ERROR;
    }
    NEED(rd_left(r) == 0);
    return MQTT_R_SUCCESS;
}

/* ---- the incremental decoder ---- */

void mqtt_decoder_init(struct mqtt_decoder *d, enum mqtt_side side,
                       const struct mqtt_limits *limits)
{
    memset(d, 0, sizeof(*d));
    d->side = side;
    if (limits) {
        d->lim = *limits;
    } else { /* what the spec allows */
        d->lim.max_qos = 2;
        d->lim.retain_available = true;
        d->lim.topic_alias_max = UINT16_MAX;
    }
}

void mqtt_decoder_init_client(struct mqtt_decoder *d, uint8_t version,
                              const struct mqtt_limits *limits)
{
    assert(version == 4 || version == 5);
    mqtt_decoder_init(d, MQTT_CLIENT, limits);
    d->version = version;
}

uint32_t mqtt_decoder_body_size(const struct mqtt_decoder *d)
{
    return d->in_body ? d->remaining : 0;
}

void mqtt_decoder_set_buffer(struct mqtt_decoder *d, uint8_t *buf, size_t cap)
{
    assert(d->have == 0 || buf == d->buf);
    d->buf = buf;
    d->cap = buf ? cap : 0;
}

bool mqtt_decoder_busy(const struct mqtt_decoder *d)
{
    return d->hdr_len > 0 || d->in_body;
}

static enum mqtt_step fail(struct mqtt_decoder *d, enum mqtt_reason why, enum mqtt_reason *out)
{
    d->failed = true;
    d->why = why;
    *out = why;
    return MQTT_STEP_ERROR;
}

/* Decodes the complete body in body[0..remaining) and resets for the next packet. */
static enum mqtt_step finish(struct mqtt_decoder *d, const uint8_t *body, struct mqtt_packet *pkt,
                             enum mqtt_reason *why)
{
    memset(pkt, 0, sizeof(*pkt));
    pkt->type = (enum mqtt_type)(d->hdr[0] >> 4);
    pkt->flags = d->hdr[0] & 0x0fu;
    pkt->size = d->hdr_len + d->remaining;
    struct rd r = {body, d->remaining, 0};
    enum mqtt_reason rc = decode_body(d, &r, pkt);
    d->hdr_len = 0;
    d->in_body = false;
    d->remaining = d->have = 0;
    if (rc != MQTT_R_SUCCESS)
        return fail(d, rc, why);
    /* a refused CONNECT closes the connection: nothing after it is read */
    if (pkt->type == MQTT_CONNECT && pkt->refusal != MQTT_R_SUCCESS) {
        d->failed = true;
        d->why = pkt->refusal;
    }
    *why = pkt->refusal;
    return MQTT_STEP_PACKET;
}

enum mqtt_step mqtt_decoder_feed(struct mqtt_decoder *d, const uint8_t *data, size_t len,
                                 size_t *used, struct mqtt_packet *pkt, enum mqtt_reason *why)
{
    size_t off = 0;
    *used = 0;
    if (d->failed) {
        *why = d->why;
        return MQTT_STEP_ERROR;
    }
    while (!d->in_body) {
        if (off == len) {
            *used = off;
            return MQTT_STEP_MORE;
        }
        uint8_t b = data[off++];
        d->hdr[d->hdr_len++] = b;
        if (d->hdr_len == 1)
            continue;
        if (b & 0x80) {
            if (d->hdr_len == 5) {
                *used = off;
                return fail(d, MQTT_R_MALFORMED, why); /* a 5th length byte */
            }
            continue;
        }
        if (d->hdr_len > 2 && b == 0) {
            *used = off;
            return fail(d, MQTT_R_MALFORMED, why); /* overlong remaining length */
        }
        uint32_t rl = 0;
        for (unsigned i = 1; i < d->hdr_len; i++)
            rl |= (uint32_t)(d->hdr[i] & 0x7f) << (7 * (i - 1));
        enum mqtt_reason rc = header_check(d, d->hdr[0], d->hdr_len + rl);
        if (rc != MQTT_R_SUCCESS) {
            *used = off;
            return fail(d, rc, why);
        }
        d->in_body = true;
        d->remaining = rl;
        d->have = 0;
    }
    size_t avail = len - off;
    if (d->have == 0 && avail >= d->remaining) {
        /* whole body in the bytes fed: decoded in place */
        *used = off + d->remaining;
        return finish(d, data + off, pkt, why);
    }
    if (!d->buf || d->cap < d->remaining) {
        *used = off;
        return MQTT_STEP_BUFFER;
    }
    size_t take = d->remaining - d->have;
    if (take > avail)
        take = avail;
    memcpy(d->buf + d->have, data + off, take);
    d->have += (uint32_t)take;
    *used = off + take;
    if (d->have < d->remaining)
        return MQTT_STEP_MORE;
    return finish(d, d->buf, pkt, why);
}

/* ---- encoding: a writer that counts past its capacity ---- */

struct wr {
    uint8_t *p;
    size_t cap, len;
};

static void wr_u8(struct wr *w, uint8_t v)
{
    if (w->len < w->cap)
        w->p[w->len] = v;
    w->len++;
}

static void wr_u16(struct wr *w, uint16_t v)
{
    wr_u8(w, (uint8_t)(v >> 8));
    wr_u8(w, (uint8_t)v);
}

static void wr_u32(struct wr *w, uint32_t v)
{
    wr_u16(w, (uint16_t)(v >> 16));
    wr_u16(w, (uint16_t)v);
}

static void wr_varint(struct wr *w, uint32_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        wr_u8(w, (uint8_t)(b | (v ? 0x80 : 0)));
    } while (v);
}

static void wr_raw(struct wr *w, const uint8_t *p, size_t n)
{
    if (n && w->len < w->cap)
        memcpy(w->p + w->len, p, n <= w->cap - w->len ? n : w->cap - w->len);
    w->len += n;
}

static void wr_bin(struct wr *w, const struct mqtt_bin *b)
{
    wr_u16(w, b->len);
    wr_raw(w, b->p, b->len);
}

static void props_body(struct wr *w, const struct mqtt_props *p)
{
#define PROP_WRITE_BYTE(f)   wr_u8(w, p->f)
#define PROP_WRITE_U16(f)    wr_u16(w, p->f)
#define PROP_WRITE_U32(f)    wr_u32(w, p->f)
#define PROP_WRITE_VARINT(f) wr_varint(w, p->f)
#define PROP_WRITE_STR(f)    wr_bin(w, &p->f)
#define PROP_WRITE_BIN(f)    wr_bin(w, &p->f)
#define MQTT_PROP_WRITE(name, pid, type, field, packets, multi)                                    \
    if (pid != MQTT_PROP_USER_PROPERTY && (p->present & MQTT_PROP_BIT(pid))) {                     \
        wr_u8(w, pid);                                                                             \
        PROP_WRITE_##type(field);                                                                  \
    }
#define PROP_WRITE_PAIR(f) (void)0
    MQTT_PROP_TABLE(MQTT_PROP_WRITE)
#undef MQTT_PROP_WRITE
    for (uint32_t i = 0; i < p->n_user && p->user; i++) {
        wr_u8(w, MQTT_PROP_USER_PROPERTY);
        wr_bin(w, &p->user[i].name);
        wr_bin(w, &p->user[i].value);
    }
}

static void wr_props(struct wr *w, const struct mqtt_props *p)
{
    struct wr count = {NULL, 0, 0};
    props_body(&count, p);
    wr_varint(w, (uint32_t)count.len);
    props_body(w, p);
}

static void encode_body(uint8_t version, const struct mqtt_packet *pk, struct wr *w)
{
    bool v5 = version == 5;
    switch (pk->type) {
    case MQTT_CONNECT: {
        const struct mqtt_connect *c = &pk->u.connect;
        wr_bin(w, &(struct mqtt_bin){(const uint8_t *)"MQTT", 4});
        wr_u8(w, version);
        uint8_t f = (uint8_t)((c->clean_start ? 2 : 0) | (c->will ? 4 : 0) |
                              (c->will ? (c->will_qos & 3) << 3 : 0) |
                              (c->will && c->will_retain ? 0x20 : 0) |
                              (c->has_password ? 0x40 : 0) | (c->has_username ? 0x80 : 0));
        wr_u8(w, f);
        wr_u16(w, c->keep_alive);
        if (v5)
            wr_props(w, &c->props);
        wr_bin(w, &c->client_id);
        if (c->will) {
            if (v5)
                wr_props(w, &c->will_props);
            wr_bin(w, &c->will_topic);
            wr_bin(w, &c->will_payload);
        }
        if (c->has_username)
            wr_bin(w, &c->username);
        if (c->has_password)
            wr_bin(w, &c->password);
        break;
    }
    case MQTT_CONNACK:
        wr_u8(w, pk->u.connack.session_present ? 1 : 0);
        wr_u8(w, pk->u.connack.code);
        if (v5)
            wr_props(w, &pk->u.connack.props);
        break;
    case MQTT_PUBLISH: {
        const struct mqtt_publish *p = &pk->u.publish;
        wr_bin(w, &p->topic);
        if (p->qos)
            wr_u16(w, p->packet_id);
        if (v5)
            wr_props(w, &p->props);
        wr_raw(w, p->payload, p->payload_len);
        break;
    }
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: {
        const struct mqtt_ack *a = &pk->u.ack;
        wr_u16(w, a->packet_id);
        /* MQTT 5: code and properties may be left out when 0 and empty (3.4.2.1) */
        bool props = a->props.present || a->props.n_user;
        if (v5 && (a->code || props))
            wr_u8(w, a->code);
        if (v5 && props)
            wr_props(w, &a->props);
        break;
    }
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: {
        const struct mqtt_subscribe *s = &pk->u.sub;
        wr_u16(w, s->packet_id);
        if (v5)
            wr_props(w, &s->props);
        if (!s->filters) /* a decoded packet: its list as it came */
            wr_raw(w, s->list, s->list_len);
        for (uint16_t i = 0; s->filters && i < s->n; i++) {
            wr_bin(w, &s->filters[i]);
            if (pk->type == MQTT_SUBSCRIBE)
                wr_u8(w, s->options ? s->options[i] : 0);
        }
        break;
    }
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: {
        const struct mqtt_suback *s = &pk->u.suback;
        wr_u16(w, s->packet_id);
        if (v5)
            wr_props(w, &s->props);
        if (v5 || pk->type == MQTT_SUBACK)
            wr_raw(w, s->codes, s->n);
        break;
    }
    case MQTT_DISCONNECT: {
        const struct mqtt_disconnect *x = &pk->u.disconnect;
        bool props = x->props.present || x->props.n_user;
        if (v5 && (x->code || props))
            wr_u8(w, x->code);
        if (v5 && props)
            wr_props(w, &x->props);
        break;
    }
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_AUTH:
        break;
    }
}

enum tp_err mqtt_encode(uint8_t version, const struct mqtt_packet *pkt, uint8_t *out, size_t cap,
                        size_t *len)
{
    *len = 0;
    if (version != 4 && version != 5)
        return TP_INVALID_ARG;
    if (pkt->type < MQTT_CONNECT || pkt->type > MQTT_AUTH ||
        (pkt->type == MQTT_AUTH && version != 5) ||
        (pkt->type == MQTT_PUBLISH && pkt->u.publish.qos > 2) ||
        ((pkt->type == MQTT_SUBSCRIBE || pkt->type == MQTT_UNSUBSCRIBE) && pkt->u.sub.n &&
         !pkt->u.sub.filters && !pkt->u.sub.list))
        return TP_INVALID_ARG;
    struct wr body = {NULL, 0, 0};
    encode_body(version, pkt, &body);
    if (body.len > MQTT_REMAINING_MAX)
        return TP_TOO_LARGE;
    uint8_t b0 = (uint8_t)(pkt->type << 4);
    if (pkt->type == MQTT_PUBLISH)
        b0 |= (uint8_t)((pkt->u.publish.dup ? 8 : 0) | pkt->u.publish.qos << 1 |
                        (pkt->u.publish.retain ? 1 : 0));
    else if (pkt->type == MQTT_PUBREL || pkt->type == MQTT_SUBSCRIBE ||
             pkt->type == MQTT_UNSUBSCRIBE)
        b0 |= 2;
    struct wr hdr = {out, cap, 0};
    wr_u8(&hdr, b0);
    wr_varint(&hdr, (uint32_t)body.len);
    *len = hdr.len + body.len;
    if (*len > cap)
        return TP_TOO_LARGE;
    struct wr w = {out + hdr.len, cap - hdr.len, 0};
    encode_body(version, pkt, &w);
    assert(w.len == body.len);
    return TP_OK;
}
