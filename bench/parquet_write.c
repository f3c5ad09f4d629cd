/*
 * bench/parquet_write.c - rows/s of the rollup's Parquet writing on one
 * core, with realistic rows (simulated vehicles, the rollup's own row model
 * and options), and the file it wrote for the pyarrow comparison.
 *
 * usage: tp-bench-parquet ROWS OUT.parquet
 * Prints "rows=N seconds=S cpu_seconds=C rows_per_s=R rows_per_cpu_s=RC bytes=B"
 * (the write loop only: generating the rows is not timed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "common/mem.h"
#include "loadgen/sim.h"
#include "rollup/columns.h"

/* CPU time of this process: steady where wall time is not on a shared VM. */
static double bench_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tp-bench-parquet ROWS OUT.parquet\n");
        return 2;
    }
    size_t rows = strtoull(argv[1], NULL, 10);
    size_t devices = rows / 100 ? rows / 100 : 1;
    struct sim_fleet *fleet = sim_fleet_new(devices, 7, 1700000000000, 5000);
    journal_reading *rs = tp_calloc(rows, sizeof(*rs));
    struct sim_storage *ss = tp_calloc(rows, sizeof(*ss));
    struct journal_event *evs = tp_calloc(rows, sizeof(*evs));
    for (size_t i = 0; i < rows; i++) {
        sim_reading_next(fleet, i % devices, &rs[i], &ss[i]);
        rs[i].location = &ss[i].location;
        evs[i].partition = 0;
        evs[i].offset = (int64_t)i;
        evs[i].timestamp_ms = rs[i].timestamp_ms + 40;
        evs[i].reading = &rs[i];
    }
    struct rollup_schema schema;
    char errstr[256];
    rollup_schema_init(&schema);
    rollup_schema_add(&schema, &twinpipe__telemetry__v1__reading__descriptor, errstr,
                      sizeof(errstr));
    struct parquet_column_spec specs[ROLLUP_COLUMNS_MAX];
    rollup_schema_specs(&schema, specs);
    struct parquet_options opts;
    parquet_options_init(&opts);
    opts.row_group_rows = 131072; /* tp-rollup's defaults */
    opts.zstd_level = 1;          /* rollup.zstd_level's default */
    struct parquet_writer *w;
    int64_t t0 = tp_mono_ms();
    double c0 = bench_cpu_s();
    if (parquet_writer_new(argv[2], specs, schema.n, &opts, &w, errstr, sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    for (size_t i = 0; i < rows; i++) {
        if (rollup_row_fill(&schema, w, &evs[i], errstr, sizeof(errstr)) != TP_OK ||
            parquet_writer_end_row(w, errstr, sizeof(errstr)) != TP_OK) {
            fprintf(stderr, "%s\n", errstr);
            return 1;
        }
    }
    if (parquet_writer_close(w, errstr, sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    double secs = (double)(tp_mono_ms() - t0) / 1000.0;
    double cpu = bench_cpu_s() - c0;
    parquet_writer_free(w);
    struct stat sb;
    stat(argv[2], &sb);
    printf(
        "rows=%zu seconds=%.3f cpu_seconds=%.3f rows_per_s=%.0f rows_per_cpu_s=%.0f bytes=%lld\n",
        rows, secs, cpu, (double)rows / secs, (double)rows / cpu, (long long)sb.st_size);
    free(rs);
    free(ss);
    free(evs);
    sim_fleet_free(fleet);
    return 0;
}
