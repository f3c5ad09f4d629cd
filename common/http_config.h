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
    {                                                                                              \
        "http.max_header_bytes", CONFIG_INT, "8192", 1024, 65536,                                  \
            offsetof(type, member.max_header_bytes),                                               \
            "request line + headers; over it: 431 headers_too_large"                               \
    }

static inline struct http_options http_settings_options(const struct http_settings *s)
{
    struct http_options o = {s->listen, (unsigned)s->threads, (unsigned)s->timeout_s,
                             (unsigned)s->max_connections, (size_t)s->max_header_bytes};
    return o;
}

#endif
