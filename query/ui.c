#include "ui.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"

/* This origin only: the page loads nothing from elsewhere and talks to nothing else. */
#define UI_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const struct ui_file *ui_file_find(const char *path)
{
    for (size_t i = 0; i < ui_files_n; i++)
        if (!strcmp(ui_files[i].path, path))
            return &ui_files[i];
    return NULL;
}

const char *ui_content_type(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".png", "image/png"},
        {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "text/plain; charset=utf-8";
}

static void ui_redirect(struct http_request *req, void *arg)
{
    (void)arg;
    http_reply_header(req, "Location", "/ui/");
    http_reply(req, 302, "text/plain; charset=utf-8", "/ui/\n", 5);
}

static void ui_serve(struct http_request *req, const char *path)
{
    const struct ui_file *f = ui_file_find(path);
    if (!f) {
        query_error_reply(req, QERR_NOT_FOUND, "no such file of the page");
        return;
    }
    http_reply_header(req, "Content-Security-Policy", UI_CSP);
    http_reply_header(req, "X-Content-Type-Options", "nosniff");
    http_reply_header(req, "Cache-Control", "no-cache");
    http_reply(req, 200, ui_content_type(f->path), f->data, *f->len);
}

static void ui_handle_index(struct http_request *req, void *arg)
{
    (void)arg;
    ui_serve(req, "index.html");
}

static void ui_handle_file(struct http_request *req, void *arg)
{
    (void)arg;
    ui_serve(req, http_request_path_tail(req));
}

size_t ui_routes(struct http_route *out)
{
    const struct http_route routes[UI_N_ROUTES] = {
        {"GET", "/", 0, ui_redirect, NULL},
        {"GET", "/ui", 0, ui_redirect, NULL},
        {"GET", "/ui/", 0, ui_handle_index, NULL},
        {"GET", "/ui/**", 0, ui_handle_file, NULL},
    };
    memcpy(out, routes, sizeof(routes));
    return UI_N_ROUTES;
}
