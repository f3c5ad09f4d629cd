#include "layout.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum tp_err layout_paths(const char *root, const char *topic, int64_t hour_ms, int32_t partition,
                         int64_t first_offset, struct layout_paths *out, char *errstr,
                         size_t errstr_size)
{
    int64_t secs = hour_ms >= 0 ? hour_ms / 1000 : (hour_ms - 999) / 1000;
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "time %" PRId64 " out of range",
                          hour_ms);
    int n = snprintf(out->dir, sizeof(out->dir), "%s/%s/date=%04d-%02d-%02d/hour=%02d", root, topic,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
    int m = snprintf(out->final, sizeof(out->final), "%s/%s+%" PRId32 "+%020" PRId64 ".parquet",
                     out->dir, topic, partition, first_offset);
    int k = snprintf(out->tmp, sizeof(out->tmp), "%s/.%s+%" PRId32 "+%020" PRId64 ".parquet.tmp",
                     out->dir, topic, partition, first_offset);
    if (n < 0 || m < 0 || k < 0 || (size_t)n >= sizeof(out->dir) ||
        (size_t)m >= sizeof(out->final) || (size_t)k >= sizeof(out->tmp))
        return tp_err_set(TP_TOO_LARGE, errstr, errstr_size, "rollup path under \"%s\" too long",
                          root);
    return TP_OK;
}

enum tp_err layout_mkdirs(const char *dir, char *errstr, size_t errstr_size)
{
    char path[LAYOUT_PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return tp_err_set(TP_IO, errstr, errstr_size, "could not create folder \"%s\": %s",
                                  path, strerror(errno));
            if (end)
                break;
            *p = '/';
        }
    }
    return TP_OK;
}

enum tp_err layout_publish(const struct layout_paths *p, char *errstr, size_t errstr_size)
{
    if (rename(p->tmp, p->final) != 0)
        return tp_err_set(TP_IO, errstr, errstr_size, "could not rename \"%s\" to \"%s\": %s",
                          p->tmp, p->final, strerror(errno));
    int fd = open(p->dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return tp_err_set(TP_IO, errstr, errstr_size, "could not open folder \"%s\": %s", p->dir,
                          strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0)
        return tp_err_set(TP_IO, errstr, errstr_size, "could not fsync folder \"%s\": %s", p->dir,
                          strerror(errno));
    return TP_OK;
}
