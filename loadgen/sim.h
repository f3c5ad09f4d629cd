/*
 * sim.h - simulated devices that produce realistic telemetry, in two
 * profiles:
 *
 *   SIM_VEHICLE ("veh-000042"): drives along its own heading from a start
 *     point, with speed varying smoothly, fuel falling with distance, the
 *     odometer rising, battery voltage depending on whether the engine
 *     runs, engine temperature warming up, and slowly leaking tires (the
 *     Reading's typed fields);
 *   SIM_METER ("mtr-0000042"): a smart electricity meter at a fixed place:
 *     power following a daily load curve with noise, energy accumulating,
 *     mains voltage and frequency wandering around nominal, current from
 *     power and voltage (the Reading's free-form `metrics` map).
 *
 * Everything is deterministic from (seed, device index, sequence), so a run
 * can be checked against what was sent.
 *
 * Object: struct sim_fleet (heap, _new/_free). Threads: one at a time.
 *
 *     struct sim_fleet *f = sim_fleet_new(300, 42, start_ms);
 *     sim_reading_next(f, i, &reading, &storage);   // next reading of device i
 *     sim_fleet_free(f);
 */
#ifndef TP_SIM_H
#define TP_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"

enum sim_profile { SIM_VEHICLE, SIM_METER };

#define SIM_METER_METRICS 5 /* energy_kwh, power_w, voltage_v, current_a, frequency_hz */

/* One simulated device (vehicle or meter: the fields of the other profile stay 0). */
struct sim_vehicle {
    char device_id[32];
    char model[24];
    char firmware[16];
    char region[16];
    uint64_t sequence;
    double lat, lon, heading_deg;
    double speed_kmh, fuel_pct, odometer_km, engine_temp_c;
    double tires_kpa[4];
    double energy_kwh, power_w, voltage_v, frequency_hz; /* meters */
};

struct sim_fleet {
    enum sim_profile profile;
    struct sim_vehicle *vehicles;
    size_t n;
    uint64_t seed;
    int64_t clock_ms;    /* device time of the next reading */
    int64_t interval_ms; /* between readings of one device */
};

/* Storage a reading points into; keep it alive while the reading is used. */
struct sim_storage {
    Twinpipe__Telemetry__V1__Reading__Location location;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry metrics[SIM_METER_METRICS];
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *metric_ptrs[SIM_METER_METRICS];
};

/* A fleet of vehicles (as sim_fleet_new_profile with SIM_VEHICLE). */
struct sim_fleet *sim_fleet_new(size_t n, uint64_t seed, int64_t start_ms, int64_t interval_ms);
struct sim_fleet *sim_fleet_new_profile(enum sim_profile profile, size_t n, uint64_t seed,
                                        int64_t start_ms, int64_t interval_ms);
/* "vehicle" / "meter" -> profile; false if unknown. */
bool sim_profile_parse(const char *name, enum sim_profile *out);
void sim_fleet_free(struct sim_fleet *f);
/* Advances device i by one interval and fills r (pointing into v and s). */
void sim_reading_next(struct sim_fleet *f, size_t i, journal_reading *r, struct sim_storage *s);

/*
 * Packs the next n readings, round-robin over the fleet from *cursor (which
 * advances by n), as a protobuf ReadingBatch; rs, ss and ptrs are n-element
 * scratch arrays. Returns the body (caller frees) and its length in *len.
 */
uint8_t *sim_batch_next(struct sim_fleet *f, size_t *cursor, size_t n, journal_reading *rs,
                        struct sim_storage *ss, journal_reading **ptrs, size_t *len);

#endif
