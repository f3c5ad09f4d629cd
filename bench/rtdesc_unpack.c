/*
 * tp-bench-rtdesc [N]: unpack (and free) of one ~200-byte telemetry Reading
 * N times (default 2,000,000) with run-time descriptors built from the
 * compiled schemas/ telemetry (schema/rtdesc.h) beside the code protoc-c
 * generated, the limit, in the same run; then the strict checks
 * (schema/strict.h) alone. One core; prints ns per message and the ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "journal/journal.h"
#include "registry/compile.h"
#include "schema/rtdesc.h"
#include "schema/schemas.h"
#include "schema/strict.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run(const ProtobufCMessageDescriptor *d, const uint8_t *b, size_t len, long n)
{
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, b);
        if (!m)
            abort();
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return (now_s() - t0) / (double)n * 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    struct compile_options co = {"protoc", "/tmp", 20000};
    uint8_t *fds;
    size_t fds_len;
    char errstr[4096];
    struct rtdesc_set *set;
    if (compile_proto(&co, schemas_builtin_proto, NULL, 0, &fds, &fds_len, errstr,
                      sizeof(errstr)) != TP_OK ||
        rtdesc_set_new(fds, fds_len, NULL, 0, &set, errstr, sizeof(errstr)) != TP_OK) {
        fprintf(stderr, "tp-bench-rtdesc: %s\n", errstr);
        return 1;
    }
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    Twinpipe__Telemetry__V1__Reading__Location loc =
        TWINPIPE__TELEMETRY__V1__READING__LOCATION__INIT;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry
        co2 = TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT,
        *co2p = &co2;
    r.device_id = "veh-000123";
    r.has_sequence = r.has_timestamp_ms = r.has_speed_kmh = r.has_fuel_level_pct = 1;
    r.sequence = 4711;
    r.timestamp_ms = 1795000000000;
    r.speed_kmh = 87.5;
    r.fuel_level_pct = 61.25;
    r.has_battery_voltage_v = r.has_engine_temp_c = r.has_engine_rpm = r.has_odometer_km = 1;
    r.battery_voltage_v = 12.6;
    r.engine_temp_c = 91;
    r.engine_rpm = 2400;
    r.odometer_km = 123456.7;
    loc.has_lat = loc.has_lon = 1;
    loc.lat = 48.13;
    loc.lon = 11.57;
    r.location = &loc;
    co2.key = "cabin_co2_ppm";
    co2.has_value = 1;
    co2.value = 612;
    r.metrics = &co2p;
    r.n_metrics = 1;
    r.model = "model-3";
    r.firmware = "fw-2.1.0";
    r.region = "eu-central";
    size_t len = protobuf_c_message_get_packed_size(&r.base);
    uint8_t *b = malloc(len);
    protobuf_c_message_pack(&r.base, b);
    const ProtobufCMessageDescriptor *rt = rtdesc_message_at(set, (int32_t[]){0}, 1);
    run(rt, b, len, n / 10); /* warm up */
    double gen_ns = run(&twinpipe__telemetry__v1__reading__descriptor, b, len, n);
    double rt_ns = run(rt, b, len, n);
    const char *code;
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        if (strict_check(rt, b, len, &code, errstr, sizeof(errstr)) != TP_OK)
            abort();
    double strict_ns = (now_s() - t0) / (double)n * 1e9;
    printf("reading of %zu bytes, %ld unpack+free each\n", len, n);
    printf("generated (limit): %7.1f ns/msg  %6.2f M msgs/s\n", gen_ns, 1e3 / gen_ns);
    printf("runtime:           %7.1f ns/msg  %6.2f M msgs/s  ratio %.2f\n", rt_ns, 1e3 / rt_ns,
           rt_ns / gen_ns);
    printf("strict check:      %7.1f ns/msg\n", strict_ns);
    free(b);
    free(fds);
    rtdesc_set_free(set);
    return 0;
}
