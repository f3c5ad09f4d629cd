/* pub_timing: publish N QoS 1 messages one at a time and time each PUBLISH -> PUBACK.
 *
 *   pub_timing PORT COUNT TOPIC [VERSION]     VERSION 5 (default) or 311
 *
 * Waits for each PUBACK (libmosquitto's on_publish callback fires when the PUBACK
 * arrives, lib/handle_pubackcomp.c) before sending the next message, so the
 * figure is the broker's acknowledgement latency. Prints one line per message
 * (time of the PUBACK, mid, latency, MQTT 5 reason code) and a summary line:
 *   acked N/N, reason!=0: K, latency ms min/median/max: a b c
 * Exits 1 when a PUBACK does not arrive within 5 s. */
#include "common.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdlib.h>
#include <string.h>

static volatile int acked_mid = -1;
static volatile int acked_rc;

static void on_publish(struct mosquitto *m, void *u, int mid, int rc, const mosquitto_property *p)
{
    (void)m, (void)u, (void)p;
    acked_rc = rc;
    acked_mid = mid;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: pub_timing PORT COUNT TOPIC [5|311]\n");
        return 2;
    }
    int port = atoi(argv[1]), count = atoi(argv[2]);
    int version = (argc > 4 && !strcmp(argv[4], "311")) ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5;
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new("device-1", true, NULL);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, version);
    mosquitto_publish_v5_callback_set(m, on_publish);
    if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "pub_timing: could not connect\n");
        return 1;
    }
    mosquitto_loop_start(m);
    sleep_ms(200); /* CONNACK */
    double *lat = calloc((size_t)count, sizeof *lat);
    int nonzero = 0, acked = 0;
    for (int i = 0; i < count; i++) {
        char payload[64], ts[32];
        int mid;
        snprintf(payload, sizeof payload, "reading %d", i);
        acked_mid = -1;
        double t0 = now_ms();
        mosquitto_publish_v5(m, &mid, argv[3], (int)strlen(payload), payload, 1, false, NULL);
        while (acked_mid != mid && now_ms() - t0 < 5000)
            nanosleep(&(struct timespec){0, 20000}, NULL); /* 20 us */
        if (acked_mid != mid) {
            fprintf(stderr, "pub_timing: no PUBACK for mid %d within 5 s\n", mid);
            return 1;
        }
        lat[i] = now_ms() - t0;
        acked++;
        nonzero += acked_rc != 0;
        stamp(ts, sizeof ts);
        if (count <= 50)
            printf("%s PUBACK mid=%d latency_ms=%.3f reason=%d\n", ts, mid, lat[i], acked_rc);
    }
    qsort(lat, (size_t)count, sizeof *lat, cmp);
    printf("acked %d/%d, reason!=0: %d, latency ms min/median/max: %.3f %.3f %.3f\n", acked, count,
           nonzero, lat[0], lat[count / 2], lat[count - 1]);
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    free(lat);
    return 0;
}
