/* paho_slow_sub: a Paho C MQTTAsync QoS 1 subscriber whose messageArrived callback takes
 * HOLD_MS and then returns RET (1 = "handled", 0 = "not handled, deliver again"), to
 * see when Paho writes the PUBACK and whether RET changes it.
 *
 *   paho_slow_sub PORT TOPIC HOLD_MS RET COUNT
 *
 * Prints "ready" once subscribed, then per callback the time it was entered and
 * left. Exits after COUNT callbacks that returned 1 (with RET 0, after COUNT
 * callbacks). Run it under `strace -f -tt -xx -e trace=sendto,write`. */
#include "common.h"

#include <MQTTAsync.h>
#include <stdlib.h>
#include <string.h>

static long hold_ms;
static int ret_value, want;
static volatile int calls, ready;

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    char ts[32];
    (void)ctx, (void)topic_len;
    stamp(ts, sizeof ts);
    printf("%s callback enter msgid=%d\n", ts, msg->msgid);
    fflush(stdout);
    sleep_ms(hold_ms);
    stamp(ts, sizeof ts);
    printf("%s callback leave msgid=%d return=%d\n", ts, msg->msgid, ret_value);
    fflush(stdout);
    calls++;
    if (ret_value) {
        MQTTAsync_freeMessage(&msg);
        MQTTAsync_free(topic);
    }
    return ret_value;
}

static void on_subscribed(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx, (void)r;
    printf("ready\n");
    fflush(stdout);
    ready = 1;
}

static const char *topic_arg;

static void on_connected(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_subscribed;
    MQTTAsync_subscribe(*(MQTTAsync *)ctx, topic_arg, 1, &ro);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: paho_slow_sub PORT TOPIC HOLD_MS RET COUNT\n");
        return 2;
    }
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%s", argv[1]);
    topic_arg = argv[2];
    hold_ms = atol(argv[3]);
    ret_value = atoi(argv[4]);
    want = atoi(argv[5]);
    MQTTAsync c;
    MQTTAsync_create(&c, uri, "bridge-paho", MQTTCLIENT_PERSISTENCE_NONE, NULL);
    MQTTAsync_setCallbacks(c, NULL, NULL, on_message, NULL);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.cleansession = 1;
    co.onSuccess = on_connected;
    co.context = &c;
    if (MQTTAsync_connect(c, &co) != MQTTASYNC_SUCCESS)
        return 1;
    while (calls < want)
        sleep_ms(10);
    sleep_ms(300);
    MQTTAsync_destroy(&c);
    return 0;
}
