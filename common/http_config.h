/*
 * http_config.h - the HTTP settings every service embeds in its config
 * struct, and the config-table rows that fill them (one definition for all
 * services): HTTP_CONFIG_ENTRIES(struct query_config, http, "127.0.0.1:18081").
 */
#ifndef TP_HTTP_CONFIG_H
#define TP_HTTP_CONFIG_H

#include "http.h"

struct http_settings {
    char *listen;
    long long threads;
    long long timeout_s;
    long long max_connections;
    long long max_header_bytes;
    long long max_connections_per_ip;
    long long header_timeout_s;
    long long min_rate_bytes_s;
    char *metrics_listen;
};

#define HTTP_CONFIG_ENTRIES(type, member, listen_default)                                          \
    {"http.listen",                                                                                \
     CONFIG_STRING,                                                                                \
     listen_default,                                                                               \
     0,                                                                                            \
     0,                                                                                            \
     offsetof(type, member.listen),                                                                \
     "HTTP listen address host:port (IPv4)"},                                                      \
        {"http.threads",       CONFIG_INT, "2", 1, 64, offsetof(type, member.threads),             \
         "HTTP server threads"},                                                                   \
        {"http.timeout_s",                                                                         \
         CONFIG_INT,                                                                               \
         "30",                                                                                     \
         1,                                                                                        \
         3600,                                                                                     \
         offsetof(type, member.timeout_s),                                                         \
         "idle and slow-client connection timeout, seconds"},                                      \
        {"http.max_connections",                                                                   \
         CONFIG_INT,                                                                               \
         "10000",                                                                                  \
         1,                                                                                        \
         1000000,                                                                                  \
         offsetof(type, member.max_connections),                                                   \
         "concurrent connections"},                                                                \
        {"http.max_header_bytes",                                                                  \
         CONFIG_INT,                                                                               \
         "8192",                                                                                   \
         1024,                                                                                     \
         65536,                                                                                    \
         offsetof(type, member.max_header_bytes),                                                  \
         "request line + headers; over it: 431 headers_too_large"},                                \
        {"http.max_connections_per_ip",                                                            \
         CONFIG_INT,                                                                               \
         "1000",                                                                                   \
         0,                                                                                        \
         1000000,                                                                                  \
         offsetof(type, member.max_connections_per_ip),                                            \
         "concurrent connections from one client address (more are closed at once); 0 = no "       \
         "limit"},                                                                                 \
        {"http.header_timeout_s",                                                                  \
         CONFIG_INT,                                                                               \
         "30",                                                                                     \
         0,                                                                                        \
         3600,                                                                                     \
         offsetof(type, member.header_timeout_s),                                                  \
         "a request's line and headers must be complete within this many seconds of the "          \
         "connection's start or previous response, else the connection is cut; 0 = off"},          \
        {"http.min_rate_bytes_s",                                                                  \
         CONFIG_INT,                                                                               \
         "1024",                                                                                   \
         0,                                                                                        \
         1073741824,                                                                               \
         offsetof(type, member.min_rate_bytes_s),                                                  \
         "slowest average rate of a request body after 5 s, bytes/s, else the connection is cut "  \
         "(slow-loris); 0 = off"},                                                                 \
    {                                                                                              \
        "http.metrics_listen", CONFIG_STRING, NULL, 0, 0, offsetof(type, member.metrics_listen),   \
            "serve /metrics only on this host:port (not on http.listen); empty = on http.listen"   \
    }

static inline struct http_options http_settings_options(const struct http_settings *s)
{
    struct http_options o = {
        .listen = s->listen,
        .threads = (unsigned)s->threads,
        .connection_timeout_s = (unsigned)s->timeout_s,
        .max_connections = (unsigned)s->max_connections,
        .max_header_bytes = (size_t)s->max_header_bytes,
        .max_connections_per_ip = (unsigned)s->max_connections_per_ip,
        .header_timeout_s = (unsigned)s->header_timeout_s,
        .min_rate_bytes_s = (unsigned)s->min_rate_bytes_s,
        .metrics_listen = s->metrics_listen,
    };
    return o;
}

#endif
