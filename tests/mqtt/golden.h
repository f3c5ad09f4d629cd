/*
 * golden.h - the exact bytes real MQTT clients sent, as test vectors (hex).
 *
 * Captured with tests/mqtt/capture.py (a loopback listener that records each packet and
 * answers CONNACK, PUBACK, SUBACK and UNSUBACK) from Debian's mosquitto-clients
 * 2.0.11-1.2+deb12u2:
 *
 *   mosquitto_pub -V mqttv311|mqttv5 -i tp-dev-1 -u dev-1 -P tp1.token-secret
 *                 -t twinpipe/v1/dev-1/telemetry -q 1 -m hello
 *   mosquitto_sub -V mqttv311|mqttv5 -i tp-dev-1 -u dev-1 -P tp1.token-secret
 *                 -t twinpipe/v1/dev-1/config -q 1 -W 1 -U twinpipe/v1/dev-1/config
 *
 * tests/fuzz/corpus/fuzz_mqtt/ holds the same streams as seeds.
 */
#ifndef TP_TESTS_MQTT_GOLDEN_H
#define TP_TESTS_MQTT_GOLDEN_H

#define GOLDEN_PUB311_CONNECT                                                                      \
    "102d00044d51545404c2003c000874702d6465762d3100056465762d3100107470312e746f6b656e2d7365637265" \
    "74"
#define GOLDEN_PUB311_PUBLISH                                                                      \
    "3224001b7477696e706970652f76312f6465762d312f74656c656d65747279000168656c6c6f"
#define GOLDEN_PUB311_DISCONNECT "e000"

#define GOLDEN_PUB5_CONNECT                                                                        \
    "103100044d51545405c2003c03210014000874702d6465762d3100056465762d3100107470312e746f6b656e2d73" \
    "6563726574"
#define GOLDEN_PUB5_PUBLISH                                                                        \
    "3225001b7477696e706970652f76312f6465762d312f74656c656d6574727900010068656c6c6f"
#define GOLDEN_PUB5_DISCONNECT "e000"

#define GOLDEN_SUB311_CONNECT                                                                      \
    "102d00044d51545404c2003c000874702d6465762d3100056465762d3100107470312e746f6b656e2d7365637265" \
    "74"
#define GOLDEN_SUB311_SUBSCRIBE   "821d000100187477696e706970652f76312f6465762d312f636f6e66696701"
#define GOLDEN_SUB311_UNSUBSCRIBE "a21c000200187477696e706970652f76312f6465762d312f636f6e666967"
#define GOLDEN_SUB311_DISCONNECT  "e000"

#define GOLDEN_SUB5_CONNECT                                                                        \
    "103100044d51545405c2003c03210014000874702d6465762d3100056465762d3100107470312e746f6b656e2d73" \
    "6563726574"
#define GOLDEN_SUB5_SUBSCRIBE   "821e00010000187477696e706970652f76312f6465762d312f636f6e66696701"
#define GOLDEN_SUB5_UNSUBSCRIBE "a21d00020000187477696e706970652f76312f6465762d312f636f6e666967"
#define GOLDEN_SUB5_DISCONNECT  "e00104"

#endif
