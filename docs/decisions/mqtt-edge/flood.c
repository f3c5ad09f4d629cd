/* flood: Mosquitto's own QoS 1 throughput, the limit beside the MQTT ingest benchmark.
 *
 *   flood pub PORT TOPIC COUNT INFLIGHT   publish COUNT QoS 1 messages (MQTT 3.1.1, 60-byte
 *                                         payload), at most INFLIGHT unacknowledged; prints
 *                                         "pub COUNT acked in S s: R msg/s"
 *   flood sub PORT FILTER COUNT           QoS 1 subscriber that does nothing with a message;
 *                                         prints "ready", then "sub N received in S s"
 *                                         (first message to the COUNTth, or to the last one
 *                                         when none came for 3 s: N < COUNT means the broker
 *                                         dropped messages it had acknowledged)
 * libmosquitto acknowledges each message it receives itself (lib/handle_publish.c), so the
 * subscriber adds no wait of its own. */
#include "common.h"

#include <mosquitto.h>
#include <stdlib.h>
#include <string.h>

static volatile long done;
static long want;
static double t_first, t_last;

static void on_publish(struct mosquitto *m, void *u, int mid)
{
    (void)m, (void)u, (void)mid;
    done++;
}

static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg)
{
    (void)m, (void)u, (void)msg;
    t_last = now_ms();
    if (done++ == 0)
        t_first = t_last;
}

static void on_subscribe(struct mosquitto *m, void *u, int mid, int n, const int *q)
{
    (void)m, (void)u, (void)mid, (void)n, (void)q;
    printf("ready\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[1], "pub") && strcmp(argv[1], "sub"))) {
        fprintf(stderr,
                "usage: flood pub PORT TOPIC COUNT INFLIGHT | flood sub PORT FILTER COUNT\n");
        return 2;
    }
    int pub = !strcmp(argv[1], "pub");
    want = atol(argv[4]);
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    if (pub) {
        mosquitto_max_inflight_messages_set(m, (unsigned)atoi(argv[5]));
        mosquitto_publish_callback_set(m, on_publish);
    } else {
        mosquitto_message_callback_set(m, on_message);
        mosquitto_subscribe_callback_set(m, on_subscribe);
    }
    if (mosquitto_connect(m, "127.0.0.1", atoi(argv[2]), 60) != MOSQ_ERR_SUCCESS)
        return 1;
    mosquitto_loop_start(m);
    if (!pub) {
        mosquitto_subscribe(m, NULL, argv[3], 1);
        while (done < want && (done == 0 || now_ms() - t_last < 3000))
            sleep_ms(5);
        printf("sub %ld received in %.2f s\n", (long)done, (t_last - t_first) / 1e3);
    } else {
        char payload[60];
        memset(payload, 'x', sizeof payload);
        double t0 = now_ms();
        for (long i = 0; i < want; i++) /* beyond INFLIGHT, libmosquitto queues in memory */
            mosquitto_publish(m, NULL, argv[3], sizeof payload, payload, 1, false);
        while (done < want)
            sleep_ms(1);
        double s = (now_ms() - t0) / 1e3;
        printf("pub %ld acked in %.2f s: %.0f msg/s\n", want, s, (double)want / s);
    }
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
