/*
 * http_config.h - the config-table rows of the HTTP settings every service
 * shares (one definition for all services), filling a struct http_options
 * the service embeds in its config struct and hands to the server as is:
 * HTTP_CONFIG_ENTRIES(struct query_config, http, "127.0.0.1:18081").
 */
#ifndef TP_HTTP_CONFIG_H
#define TP_HTTP_CONFIG_H

#include "config.h"
#include "http.h"

#define HTTP_CONFIG_ENTRIES(type, member, listen_default)                                          \
    CONFIG_ROW_STR("http.listen", type, member.listen, listen_default,                             \
                   "HTTP listen address host:port (IPv4)"),                                        \
        CONFIG_ROW_INT("http.threads", type, member.threads, "2", 1, 64, "HTTP server threads"),   \
        CONFIG_ROW_S("http.timeout_s", type, member.connection_timeout_s, "30", 1, 3600,           \
                     "idle and slow-client connection timeout, seconds"),                          \
        CONFIG_ROW_INT("http.max_connections", type, member.max_connections, "10000", 1, 1000000,  \
                       "concurrent connections"),                                                  \
        CONFIG_ROW_SIZE("http.max_header_bytes", type, member.max_header_bytes, "8192", 1024,      \
                        65536, "request line + headers; over it: 431 headers_too_large"),          \
        CONFIG_ROW_INT("http.max_connections_per_ip", type, member.max_connections_per_ip, "1000", \
                       0, 1000000,                                                                 \
                       "concurrent connections from one client address (more are closed at "       \
                       "once); 0 = no limit"),                                                     \
        CONFIG_ROW_S("http.header_timeout_s", type, member.header_timeout_s, "30", 0, 3600,        \
                     "a request's line and headers must be complete within this many seconds "     \
                     "of the connection's start or previous response, else the connection is "     \
                     "cut; 0 = off"),                                                              \
        CONFIG_ROW_INT("http.min_rate_bytes_s", type, member.min_rate_bytes_s, "1024", 0,          \
                       1073741824,                                                                 \
                       "slowest average rate of a request body after 5 s, bytes/s, else the "      \
                       "connection is cut (slow-loris); 0 = off"),                                 \
        CONFIG_ROW_STR("http.metrics_listen", type, member.metrics_listen, NULL,                   \
                       "serve /metrics only on this host:port (not on http.listen); empty = on "   \
                       "http.listen"),                                                             \
        CONFIG_ROW_BOOL("http.access_log", type, member.access_log, "off",                         \
                        "log one line per request at info: method, path (no query string), "       \
                        "status, bytes, duration_ms, client, request_id (X-Request-Id)")

#endif
