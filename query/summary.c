#include "summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/json.h"
#include "common/mem.h"
#include "errors.h"

static void summary_name(struct buf *b, const char *name)
{
    if (*name)
        json_str(b, name);
    else
        buf_append_str(b, "null");
}

struct summary_out {
    struct buf *b;
    bool metric;
    size_t n;
};

static void summary_emit(void *arg, const struct search_group *g)
{
    struct summary_out *o = arg;
    struct buf *b = o->b;
    buf_append_str(b, o->n++ ? ",{\"key\":" : "{\"key\":");
    if (g->key)
        json_str(b, g->key);
    else
        buf_append_str(b, "null");
    buf_printf(b, ",\"devices\":%ld,\"online\":%ld", g->devices, g->online);
    if (o->metric) {
        buf_printf(b, ",\"metric\":{\"devices\":%ld,\"min\":", g->metric_devices);
        if (g->metric_devices) {
            json_double(b, g->min);
            buf_append_str(b, ",\"max\":");
            json_double(b, g->max);
            buf_append_str(b, ",\"avg\":");
            json_double(b, g->sum / (double)g->metric_devices);
        } else {
            buf_append_str(b, "null,\"max\":null,\"avg\":null");
        }
        buf_append_str(b, "}");
    }
    buf_append_str(b, "}");
}

void summary_handle(struct http_request *req, void *arg)
{
    struct query_api *api = arg;
    char errstr[512];
    struct params_args a;
    struct summary_params p;
    if (!query_api_begin_search(api, req))
        return;
    query_api_args(req, &a);
    if (params_summary_parse(&a, &p, errstr, sizeof(errstr)) != TP_OK) {
        query_error_reply(req, QERR_INVALID_PARAMETER, "%s", errstr);
        return;
    }
    struct buf b;
    buf_init(&b, 16 << 20);
    buf_append_str(&b, "{\"group_by\":");
    summary_name(&b, p.group_by);
    buf_append_str(&b, ",\"metric\":");
    summary_name(&b, p.metric);
    buf_printf(&b, ",\"online_window_s\":%ld,\"groups\":[", api->settings.online_window_s);
    struct summary_out o = {&b, p.metric[0] != '\0', 0};
    size_t total = search_summary(api->search, &p, tp_now_ms(), api->settings.online_window_s,
                                  SUMMARY_GROUPS_MAX, summary_emit, &o);
    buf_printf(&b, "],\"truncated\":%s}", total > SUMMARY_GROUPS_MAX ? "true" : "false");
    http_reply_json(req, 200, &b);
    buf_release(&b);
}
