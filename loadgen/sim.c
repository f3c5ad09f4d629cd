#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static const char *const sim_models[] = {"tp-compact", "tp-sedan", "tp-van", "tp-truck"};
static const char *const sim_regions[] = {"eu-central", "eu-north", "us-east", "ap-south"};

/* splitmix64: a deterministic hash of (seed, a, b) in [0, 1) */
static double sim_unit(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t z = seed + a * 0x9e3779b97f4a7c15ULL + b * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static const char *const sim_meter_models[] = {"tp-meter-1ph", "tp-meter-3ph"};
static const char *const sim_meter_names[SIM_METER_METRICS] = {"energy_kwh", "power_w", "voltage_v",
                                                               "current_a", "frequency_hz"};

bool sim_profile_parse(const char *name, enum sim_profile *out)
{
    if (!strcmp(name, "vehicle"))
        *out = SIM_VEHICLE;
    else if (!strcmp(name, "meter"))
        *out = SIM_METER;
    else
        return false;
    return true;
}

static void sim_meter_init(struct sim_fleet *f, size_t i)
{
    struct sim_vehicle *v = &f->vehicles[i];
    uint64_t seed = f->seed;
    snprintf(v->device_id, sizeof(v->device_id), "mtr-%07zu", i);
    snprintf(v->model, sizeof(v->model), "%s", sim_meter_models[i % 2]);
    snprintf(v->firmware, sizeof(v->firmware), "5.%u.%u", (unsigned)(i % 4),
             (unsigned)(sim_unit(seed, i, 1) * 10));
    snprintf(v->region, sizeof(v->region), "%s", sim_regions[(i / 2) % 4]);
    v->lat = 47.0 + sim_unit(seed, i, 2) * 6.0;
    v->lon = 6.0 + sim_unit(seed, i, 3) * 9.0;
    v->energy_kwh = 1000.0 + sim_unit(seed, i, 4) * 40000.0;
    v->voltage_v = 230.0;
    v->frequency_hz = 50.0;
}

struct sim_fleet *sim_fleet_new(size_t n, uint64_t seed, int64_t start_ms, int64_t interval_ms)
{
    return sim_fleet_new_profile(SIM_VEHICLE, n, seed, start_ms, interval_ms);
}

struct sim_fleet *sim_fleet_new_profile(enum sim_profile profile, size_t n, uint64_t seed,
                                        int64_t start_ms, int64_t interval_ms)
{
    struct sim_fleet *f = tp_calloc(1, sizeof(*f));
    f->profile = profile;
    f->vehicles = tp_calloc(n ? n : 1, sizeof(*f->vehicles));
    f->n = n;
    f->seed = seed;
    f->clock_ms = start_ms;
    f->interval_ms = interval_ms;
    for (size_t i = 0; i < n && profile == SIM_METER; i++)
        sim_meter_init(f, i);
    for (size_t i = 0; i < n && profile == SIM_VEHICLE; i++) {
        struct sim_vehicle *v = &f->vehicles[i];
        snprintf(v->device_id, sizeof(v->device_id), "veh-%06zu", i);
        snprintf(v->model, sizeof(v->model), "%s", sim_models[i % 4]);
        snprintf(v->firmware, sizeof(v->firmware), "2.%u.%u", (unsigned)(i % 3),
                 (unsigned)(sim_unit(seed, i, 1) * 10));
        snprintf(v->region, sizeof(v->region), "%s", sim_regions[(i / 4) % 4]);
        v->lat = 47.0 + sim_unit(seed, i, 2) * 6.0;
        v->lon = 6.0 + sim_unit(seed, i, 3) * 9.0;
        v->heading_deg = sim_unit(seed, i, 4) * 360.0;
        v->fuel_pct = 40.0 + sim_unit(seed, i, 5) * 60.0;
        v->odometer_km = 1000.0 + sim_unit(seed, i, 6) * 150000.0;
        v->engine_temp_c = 15.0 + sim_unit(seed, i, 7) * 10.0;
        for (int t = 0; t < 4; t++)
            v->tires_kpa[t] = 235.0 + sim_unit(seed, i, 8 + (uint64_t)t) * 10.0;
    }
    return f;
}

void sim_fleet_free(struct sim_fleet *f)
{
    if (!f)
        return;
    free(f->vehicles);
    free(f);
}

static void sim_meter_next(struct sim_fleet *f, size_t i, journal_reading *r, struct sim_storage *s)
{
    struct sim_vehicle *v = &f->vehicles[i];
    v->sequence++;
    int64_t ts = f->clock_ms + (int64_t)(v->sequence - 1) * f->interval_ms;
    /* daily load curve: low at night, peaks morning and evening; per-meter size */
    double hour = fmod((double)ts / 3600000.0, 24.0);
    double curve =
        0.35 + 0.4 * exp(-pow(hour - 8.0, 2) / 4.0) + 0.6 * exp(-pow(hour - 19.0, 2) / 6.0);
    double size_w = 800.0 + 4000.0 * sim_unit(f->seed, i, 9);
    double noise = 0.8 + 0.4 * sim_unit(f->seed, i, 1000 + v->sequence);
    v->power_w = round(size_w * curve * noise);
    v->energy_kwh += v->power_w * ((double)f->interval_ms / 3600000.0) / 1000.0;
    v->voltage_v +=
        (230.0 - v->voltage_v) * 0.2 + (sim_unit(f->seed, i, 2000 + v->sequence) - 0.5) * 2.0;
    v->frequency_hz +=
        (50.0 - v->frequency_hz) * 0.3 + (sim_unit(f->seed, i, 3000 + v->sequence) - 0.5) * 0.02;

    journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
    Twinpipe__Telemetry__V1__Reading__Location linit =
        TWINPIPE__TELEMETRY__V1__READING__LOCATION__INIT;
    *r = init;
    s->location = linit;
    r->device_id = v->device_id;
    r->has_sequence = 1;
    r->sequence = v->sequence;
    r->has_timestamp_ms = 1;
    r->timestamp_ms = ts;
    double values[SIM_METER_METRICS] = {
        round(v->energy_kwh * 1000) / 1000, v->power_w, round(v->voltage_v * 10) / 10,
        round(v->power_w / v->voltage_v * 100) / 100, round(v->frequency_hz * 1000) / 1000};
    for (int k = 0; k < SIM_METER_METRICS; k++) {
        Twinpipe__Telemetry__V1__Reading__MetricsEntry minit =
            TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
        s->metrics[k] = minit;
        s->metrics[k].key = (char *)sim_meter_names[k];
        s->metrics[k].has_value = 1;
        s->metrics[k].value = values[k];
        s->metric_ptrs[k] = &s->metrics[k];
    }
    r->metrics = s->metric_ptrs;
    r->n_metrics = SIM_METER_METRICS;
    s->location.has_lat = s->location.has_lon = 1;
    s->location.lat = round(v->lat * 1e6) / 1e6;
    s->location.lon = round(v->lon * 1e6) / 1e6;
    r->location = &s->location;
    r->model = v->model;
    r->firmware = v->firmware;
    r->region = v->region;
}

void sim_reading_next(struct sim_fleet *f, size_t i, journal_reading *r, struct sim_storage *s)
{
    if (f->profile == SIM_METER) {
        sim_meter_next(f, i, r, s);
        return;
    }
    struct sim_vehicle *v = &f->vehicles[i];
    v->sequence++;
    double hours = (double)f->interval_ms / 3600000.0;
    double target = 30.0 + 90.0 * sim_unit(f->seed, i, 100 + v->sequence / 20);
    v->speed_kmh += (target - v->speed_kmh) * 0.3;
    double km = v->speed_kmh * hours;
    v->odometer_km += km;
    v->fuel_pct = fmax(0.0, v->fuel_pct - km * 0.08);
    if (v->fuel_pct < 5.0)
        v->fuel_pct = 95.0; /* refuelled */
    v->engine_temp_c += (92.0 - v->engine_temp_c) * 0.1;
    v->heading_deg =
        fmod(v->heading_deg + (sim_unit(f->seed, i, v->sequence) - 0.5) * 10.0 + 360.0, 360.0);
    double rad = v->heading_deg * M_PI / 180.0;
    v->lat = fmax(-89.0, fmin(89.0, v->lat + km * cos(rad) / 111.0));
    v->lon =
        fmod(v->lon + km * sin(rad) / (111.0 * cos(v->lat * M_PI / 180.0)) + 540.0, 360.0) - 180.0;
    for (int t = 0; t < 4; t++)
        v->tires_kpa[t] -= 0.001 * (1 + t);

    journal_reading init = TWINPIPE__TELEMETRY__V1__READING__INIT;
    Twinpipe__Telemetry__V1__Reading__Location linit =
        TWINPIPE__TELEMETRY__V1__READING__LOCATION__INIT;
    *r = init;
    s->location = linit;
    r->device_id = v->device_id;
    r->has_sequence = 1;
    r->sequence = v->sequence;
    r->has_timestamp_ms = 1;
    r->timestamp_ms = f->clock_ms + (int64_t)(v->sequence - 1) * f->interval_ms;
    r->has_speed_kmh = r->has_fuel_level_pct = r->has_odometer_km = r->has_engine_temp_c = 1;
    r->speed_kmh = round(v->speed_kmh * 10) / 10;
    r->fuel_level_pct = round(v->fuel_pct * 10) / 10;
    r->odometer_km = round(v->odometer_km * 10) / 10;
    r->engine_temp_c = round(v->engine_temp_c * 10) / 10;
    r->has_battery_voltage_v = 1;
    r->battery_voltage_v = v->speed_kmh > 1 ? 14.1 : 12.4;
    r->has_engine_rpm = 1;
    r->engine_rpm = round(800 + v->speed_kmh * 25);
    r->has_tire_pressure_fl_kpa = r->has_tire_pressure_fr_kpa = 1;
    r->has_tire_pressure_rl_kpa = r->has_tire_pressure_rr_kpa = 1;
    r->tire_pressure_fl_kpa = round(v->tires_kpa[0] * 10) / 10;
    r->tire_pressure_fr_kpa = round(v->tires_kpa[1] * 10) / 10;
    r->tire_pressure_rl_kpa = round(v->tires_kpa[2] * 10) / 10;
    r->tire_pressure_rr_kpa = round(v->tires_kpa[3] * 10) / 10;
    s->location.has_lat = s->location.has_lon = s->location.has_heading_deg = 1;
    s->location.lat = round(v->lat * 1e6) / 1e6;
    s->location.lon = round(v->lon * 1e6) / 1e6;
    s->location.heading_deg = round(v->heading_deg);
    r->location = &s->location;
    r->model = v->model;
    r->firmware = v->firmware;
    r->region = v->region;
}

uint8_t *sim_batch_next(struct sim_fleet *f, size_t *cursor, size_t n, journal_reading *rs,
                        struct sim_storage *ss, journal_reading **ptrs, size_t *len)
{
    for (size_t i = 0; i < n; i++, (*cursor)++) {
        sim_reading_next(f, *cursor % f->n, &rs[i], &ss[i]);
        ptrs[i] = &rs[i];
    }
    Twinpipe__Telemetry__V1__ReadingBatch b = TWINPIPE__TELEMETRY__V1__READING_BATCH__INIT;
    b.readings = ptrs;
    b.n_readings = n;
    *len = protobuf_c_message_get_packed_size(&b.base);
    uint8_t *body = tp_malloc(*len);
    protobuf_c_message_pack(&b.base, body);
    return body;
}
