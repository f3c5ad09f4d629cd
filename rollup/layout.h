/*
 * layout.h - where rollup files go, and publishing them atomically.
 *
 *   <dir>/<topic>/date=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first offset, 20 digits>.parquet
 *
 * Hive-style partitions by the device time of the file's rows (UTC), and a
 * name that encodes topic, partition and first offset: rewriting the same
 * journal range after a crash produces the same name, so the rewrite
 * replaces the file instead of duplicating its rows (Kafka Connect's S3
 * sink does the same). A file is written under a hidden temporary name in
 * the same folder (.<name>.tmp, which `*.parquet` globs skip), fsynced,
 * renamed, and the folder fsynced.
 *
 * Pure path functions plus filesystem calls; any thread.
 *
 *     layout_paths(dir, topic, hour_ms, p, first, &paths);
 *     layout_mkdirs(paths.dir, ...);  write paths.tmp ...;  layout_publish(&paths, ...);
 */
#ifndef TP_ROLLUP_LAYOUT_H
#define TP_ROLLUP_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define LAYOUT_PATH_MAX 1024

struct layout_paths {
    char dir[LAYOUT_PATH_MAX];
    char final[LAYOUT_PATH_MAX];
    char tmp[LAYOUT_PATH_MAX];
};

/* hour_ms: any time within the hour (ms since the epoch, UTC). */
enum tp_err layout_paths(const char *root, const char *topic, int64_t hour_ms, int32_t partition,
                         int64_t first_offset, struct layout_paths *out, char *errstr,
                         size_t errstr_size);
/* mkdir -p */
enum tp_err layout_mkdirs(const char *dir, char *errstr, size_t errstr_size);
/* rename tmp -> final, then fsync the folder. */
enum tp_err layout_publish(const struct layout_paths *p, char *errstr, size_t errstr_size);

#endif
