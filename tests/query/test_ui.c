/*
 * query/ui.c: the fleet page's files as compiled into tp-query.
 * - every file of query/ui/ (README.md aside) is in the table, byte for byte,
 *   and the table holds nothing else;
 * - index.html refers only to files of the table, and no file names another
 *   origin (no CDN: the only URL allowed is the SVG namespace, which is no request);
 * - content types by extension; paths outside the table are not found;
 * - the route table: / and /ui redirect, /ui/ and /ui/<path> serve.
 */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "query/ui.h"
#include "tests/support/check_main.h"

#define UI_DIR TP_SOURCE_DIR "/query/ui"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return s;
}

/* Every file under dir (relative to UI_DIR as rel), compared with the table; counts them. */
static size_t walk(const char *rel)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s%s%s", UI_DIR, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024], full[2048];
        snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof(full), "%s/%s", UI_DIR, path);
        struct stat st;
        ck_assert_int_eq(stat(full, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            n += walk(path);
            continue;
        }
        if (!strcmp(path, "README.md"))
            continue;
        const struct ui_file *f = ui_file_find(path);
        ck_assert_msg(f != NULL,
                      "query/ui/%s is not compiled in (query/CMakeLists.txt TP_UI_FILES)", path);
        size_t len;
        char *text = read_file(full, &len);
        ck_assert_uint_eq(*f->len, len);
        ck_assert_int_eq(memcmp(f->data, text, len), 0);
        free(text);
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(test_files_compiled_in)
{
    ck_assert_uint_eq(walk(""), ui_files_n);
    ck_assert_ptr_nonnull(ui_file_find("index.html"));
    ck_assert_ptr_null(ui_file_find(""));
    ck_assert_ptr_null(ui_file_find("../app.js"));
    ck_assert_ptr_null(ui_file_find("README.md"));
    ck_assert_ptr_null(ui_file_find("vendor"));
}
END_TEST

START_TEST(test_no_other_origin)
{
    for (size_t i = 0; i < ui_files_n; i++) {
        const char *p = ui_files[i].data;
        while ((p = strstr(p, "://")) != NULL) {
            const char *s = p;
            while (s > ui_files[i].data && s[-1] >= 'a' && s[-1] <= 'z')
                s--;
            /* the SVG namespace names no resource; a licence's text and a comment line (a
             * library's copyright line) are not fetched */
            const char *line = s;
            while (line > ui_files[i].data && line[-1] != '\n')
                line--;
            line += strspn(line, " \t");
            bool ok = !strncmp(s, "http://www.w3.org/2000/svg", 26) ||
                      strstr(ui_files[i].path, ".LICENSE") != NULL || !strncmp(line, "//", 2);
            ck_assert_msg(ok, "query/ui/%s names another origin: %.40s", ui_files[i].path, s);
            p += 3;
        }
    }
    /* every src= and href= of the page is a file of the table (or the API document) */
    const char *html = ui_file_find("index.html")->data;
    size_t refs = 0;
    for (const char *p = html; (p = strpbrk(p, "sh")) != NULL; p++) {
        size_t k = !strncmp(p, "src=\"", 5) ? 5 : !strncmp(p, "href=\"", 6) ? 6 : 0;
        if (!k || (p > html && p[-1] != ' '))
            continue;
        char ref[256];
        size_t n = strcspn(p + k, "\"");
        ck_assert_uint_lt(n, sizeof(ref));
        memcpy(ref, p + k, n);
        ref[n] = '\0';
        ck_assert_msg(!strcmp(ref, "/openapi.json") || ui_file_find(ref) != NULL,
                      "index.html refers to %s, not a file of the page", ref);
        refs++;
    }
    ck_assert_uint_eq(refs, 6); /* style.css, the two scripts, two licences, /openapi.json */
}
END_TEST

START_TEST(test_types)
{
    ck_assert_str_eq(ui_content_type("index.html"), "text/html; charset=utf-8");
    ck_assert_str_eq(ui_content_type("vendor/topojson-client.min.js"),
                     "text/javascript; charset=utf-8");
    ck_assert_str_eq(ui_content_type("style.css"), "text/css; charset=utf-8");
    ck_assert_str_eq(ui_content_type("vendor/countries-110m.json"), "application/json");
    ck_assert_str_eq(ui_content_type("vendor/world-atlas.LICENSE"), "text/plain; charset=utf-8");
    ck_assert_str_eq(ui_content_type("noext"), "text/plain; charset=utf-8");
}
END_TEST

START_TEST(test_routes)
{
    struct http_route r[UI_N_ROUTES];
    ck_assert_uint_eq(ui_routes(r), UI_N_ROUTES);
    const char *paths[UI_N_ROUTES] = {"/", "/ui", "/ui/", "/ui/**"};
    for (size_t i = 0; i < UI_N_ROUTES; i++) {
        ck_assert_str_eq(r[i].method, "GET");
        ck_assert_str_eq(r[i].path, paths[i]);
        ck_assert_uint_eq(r[i].max_body, 0);
    }
    ck_assert_ptr_eq(r[0].fn, r[1].fn); /* both redirect */
}
END_TEST

static Suite *ui_suite(void)
{
    Suite *s = suite_create("ui");
    TCase *tc = tcase_create("ui");
    tcase_add_test(tc, test_files_compiled_in);
    tcase_add_test(tc, test_no_other_origin);
    tcase_add_test(tc, test_types);
    tcase_add_test(tc, test_routes);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(ui_suite)
