/*
 * tp-mockbroker - the dev stack's IN-MEMORY fallback broker, for machines
 * without Java: librdkafka's mock cluster on loopback. It is not durable,
 * keeps at most ~5 MiB per partition, and loses everything on exit. Never
 * used where a real broker can run (scripts/devstack decides, loudly).
 *
 * usage: tp-mockbroker [--partitions N] [--topic NAME]...
 * Prints "bootstrap=HOST:PORT" on stdout, then serves until SIGTERM/SIGINT.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int partitions = 6;
    char errstr[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "tp-mockbroker: could not create kafka handle: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc) {
        fprintf(stderr, "tp-mockbroker: could not start the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--partitions") && i + 1 < argc) {
            partitions = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            rd_kafka_mock_topic_create(mc, argv[++i], partitions, 1);
        } else {
            fprintf(stderr, "usage: tp-mockbroker [--partitions N] [--topic NAME]...\n");
            return 2;
        }
    }
    fprintf(stderr, "tp-mockbroker: IN-MEMORY MOCK BROKER, NOT DURABLE: data is lost on exit\n");
    printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
