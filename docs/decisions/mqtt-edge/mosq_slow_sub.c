/* mosq_slow_sub: a libmosquitto QoS 1 subscriber whose message callback takes HOLD_MS
 * (a stand-in for "wait until Kafka acknowledged"), to see when libmosquitto writes
 * the PUBACK: before the callback, or only after it returns.
 *
 *   mosq_slow_sub PORT TOPIC HOLD_MS forever|thread COUNT
 *
 * forever: mosquitto_loop_forever() in the main thread (threaded == mosq_ts_none)
 * thread:  mosquitto_loop_start(), the library's own network thread (mosq_ts_self)
 * Prints "ready" once subscribed, then per message the time the callback was
 * entered and left. Exits after COUNT messages. Run it under
 * `strace -tt -xx -e trace=sendto,write` to see the PUBACK bytes (0x40 0x02 mid)
 * leave the process. */
#include "common.h"

#include <mosquitto.h>
#include <stdlib.h>
#include <string.h>

static long hold_ms;
static int want, got;

static void on_subscribe(struct mosquitto *m, void *u, int mid, int n, const int *q)
{
    (void)m, (void)u, (void)mid, (void)n, (void)q;
    printf("ready\n");
    fflush(stdout);
}

static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg)
{
    char ts[32];
    (void)u;
    stamp(ts, sizeof ts);
    printf("%s callback enter mid=%d\n", ts, msg->mid);
    fflush(stdout);
    sleep_ms(hold_ms);
    stamp(ts, sizeof ts);
    printf("%s callback leave mid=%d\n", ts, msg->mid);
    fflush(stdout);
    if (++got == want)
        mosquitto_disconnect(m);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: mosq_slow_sub PORT TOPIC HOLD_MS forever|thread COUNT\n");
        return 2;
    }
    hold_ms = atol(argv[3]);
    want = atoi(argv[5]);
    int threaded = !strcmp(argv[4], "thread");
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new("bridge-mosq", true, NULL);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, "127.0.0.1", atoi(argv[1]), 30) != MOSQ_ERR_SUCCESS)
        return 1;
    mosquitto_subscribe(m, NULL, argv[2], 1);
    if (threaded) {
        mosquitto_loop_start(m);
        while (got < want)
            sleep_ms(10);
        sleep_ms(200);
        mosquitto_loop_stop(m, false);
    } else {
        mosquitto_loop_forever(m, -1, 1);
    }
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
