/*
 * Confluent's official Python client against twinpipe (issue 18): tp-registry,
 * tp-ingest, tp-projector and tp-query run on the dev stack as real processes;
 * tests/registry/confluent_clients.py (in the venv tests/registry/confluent_venv.sh
 * makes from PyPI: confluent-kafka[schemaregistry,protobuf] 2.16.1) registers
 * through ProtobufSerializer (auto-register: the base64 descriptor gets the id
 * of the same schema as text; use.latest.version: ?format=serialized), posts
 * ReadingBatches to tp-ingest (202), reads the journal back with Consumer +
 * ProtobufDeserializer (every reading equal), registers a v2 with an added
 * field whose value reaches the twin (tp-query's GET /v1/devices/{id}), and
 * gets 409 naming the field for a breaking change. Confluent's Go client
 * (tests/registry/confluent_go, github.com/confluentinc/confluent-kafka-go/v2
 * v2.12.0, built with `go build`) auto-registers the schema as the text it
 * prints from the descriptor and gets the id of the text tp-ingest registered,
 * its batch gets 202 and deserializes back equal, a breaking change gets 409. The script's exit
 * code and its last line are asserted; its output is in the test log. Then tp-rollup
 * (--rollup.once, with the registry) writes the journal as Parquet, and
 * pyarrow (the venv tests/rollup/pyvenv.sh makes) reads every file: v2's
 * added field is a column with the value the client sent, v1's rows lack it.
 */
#include <check.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/check_main.h"
#include "tests/support/stack.h"

#define QUERY_KEY "confluent-clients-analyst-key"

static struct stack st;
static pid_t reg_pid, ingest_pid, projector_pid, query_pid;
static uint16_t reg_port, ingest_port, projector_port, query_port;
static char dir[64];

/* Runs cmd, returns its stdout (caller frees) and exit code in *rc. */
static char *run(const char *cmd, int *rc)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t r;
    while ((r = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    *rc = pclose(p);
    return out;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tp-confluent-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    stack_init(&st, "confluent");
    stack_db_create(&st);
    static char reg_env[96], keys[128];
    reg_port = stack_free_port();
    reg_pid = stack_service_start(&st, "tp-registry", NULL, reg_port);
    snprintf(reg_env, sizeof(reg_env), "TP_REGISTRY_URL=http://127.0.0.1:%u", reg_port);
    /* ingest registers the built-in schema (text) at start: the operator's credential */
    const char *ingest_env[] = {reg_env, "TP_AUTH_MODE=off", STACK_REGISTRY_OPERATOR_ENV, NULL};
    ingest_port = stack_free_port();
    ingest_pid = stack_service_start(&st, "tp-ingest", ingest_env, ingest_port);
    const char *projector_env[] = {reg_env, "TP_PROJECTOR_FLUSH_INTERVAL_MS=50",
                                   "TP_KAFKA_SESSION_TIMEOUT_MS=6000", NULL};
    projector_port = stack_free_port();
    projector_pid = stack_service_start(&st, "tp-projector", projector_env, projector_port);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(QUERY_KEY, strlen(QUERY_KEY), d, &dl, EVP_sha256(), NULL);
    size_t o = (size_t)snprintf(keys, sizeof(keys), "TP_QUERY_API_KEYS=");
    for (unsigned i = 0; i < dl; i++)
        o += (size_t)snprintf(keys + o, sizeof(keys) - o, "%02x", d[i]);
    const char *query_env[] = {keys, NULL};
    query_port = stack_free_port();
    query_pid = stack_service_start(&st, "tp-query", query_env, query_port);
}

static void teardown(void)
{
    int sq = stack_service_stop(query_pid, SIGTERM);
    int sp = stack_service_stop(projector_pid, SIGTERM);
    int si = stack_service_stop(ingest_pid, SIGTERM);
    int sr = stack_service_stop(reg_pid, SIGTERM);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    stack_release(&st);
    ck_assert_int_eq(sq, 0);
    ck_assert_int_eq(sp, 0);
    ck_assert_int_eq(si, 0);
    ck_assert_int_eq(sr, 0);
}

START_TEST(test_python_protobuf_workflow)
{
    int rc;
    char *py = run("bash " TP_SOURCE_DIR "/tests/registry/confluent_venv.sh", &rc);
    ck_assert_msg(rc == 0 && py[0], "tests/registry/confluent_venv.sh failed (%d)", rc);
    py[strcspn(py, "\n")] = '\0';

    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "protoc -I" TP_SOURCE_DIR
             "/schemas --descriptor_set_out=%s/telemetry.fds " TP_SOURCE_DIR
             "/schemas/twinpipe/telemetry/v1/telemetry.proto",
             dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "TP_REGISTRY_URL=http://127.0.0.1:%u "
             "TP_REGISTRY_AUTH=" STACK_REGISTRY_OPERATOR ":" STACK_REGISTRY_OPERATOR_PASSWORD " "
             "TP_INGEST_URL=http://127.0.0.1:%u TP_QUERY_URL=http://127.0.0.1:%u "
             "TP_QUERY_KEY=" QUERY_KEY " TP_BOOTSTRAP='%s' TP_TOPIC='%s' TP_FDS=%s/telemetry.fds "
             "'%s' " TP_SOURCE_DIR "/tests/registry/confluent_clients.py 2>&1",
             reg_port, ingest_port, query_port, st.bootstrap, st.topic, dir, py);
    char *out = run(cmd, &rc);
    fputs(out, stdout);
    ck_assert_msg(rc == 0, "confluent_clients.py failed (%d):\n%s", rc, out);
    ck_assert_msg(strstr(out, "all checks passed\n"), "no final line:\n%s", out);
    free(out);
    free(py);

    /* Confluent's Go client: built from the module cache / Go module proxy (go.sum pins it) */
    snprintf(cmd, sizeof(cmd),
             "cd " TP_SOURCE_DIR
             "/tests/registry/confluent_go && go build -o %s/confluent_go . 2>&1",
             dir);
    out = run(cmd, &rc);
    ck_assert_msg(rc == 0, "go build of tests/registry/confluent_go failed (%d):\n%s", rc, out);
    free(out);
    snprintf(cmd, sizeof(cmd),
             "TP_REGISTRY_URL=http://127.0.0.1:%u "
             "TP_REGISTRY_AUTH=" STACK_REGISTRY_OPERATOR ":" STACK_REGISTRY_OPERATOR_PASSWORD " "
             "TP_INGEST_URL=http://127.0.0.1:%u TP_TOPIC='%s' TP_FDS=%s/telemetry.fds "
             "%s/confluent_go 2>&1",
             reg_port, ingest_port, st.topic, dir, dir);
    out = run(cmd, &rc);
    fputs(out, stdout);
    ck_assert_msg(rc == 0, "confluent_go failed (%d):\n%s", rc, out);
    ck_assert_msg(strstr(out, "all go checks passed\n"), "no final line:\n%s", out);
    free(out);

    /* the Parquet files: v2's field is a column */
    char lake_env[128], group_env[160];
    snprintf(lake_env, sizeof(lake_env), "TP_ROLLUP_DIR=%s/lake", dir);
    snprintf(group_env, sizeof(group_env), "TP_ROLLUP_GROUP=%s-rollup", st.topic);
    static char reg_env[96];
    snprintf(reg_env, sizeof(reg_env), "TP_REGISTRY_URL=http://127.0.0.1:%u", reg_port);
    const char *rollup_env[] = {"TP_ROLLUP_ONCE=true",
                                lake_env,
                                group_env,
                                reg_env,
                                "TP_KAFKA_SESSION_TIMEOUT_MS=6000",
                                NULL};
    ck_assert_int_eq(stack_run(&st, "tp-rollup", rollup_env), 0);
    char *arrow = run("bash " TP_SOURCE_DIR "/tests/rollup/pyvenv.sh", &rc);
    ck_assert_msg(rc == 0 && arrow[0], "tests/rollup/pyvenv.sh failed (%d)", rc);
    arrow[strcspn(arrow, "\n")] = '\0';
    snprintf(cmd, sizeof(cmd),
             "'%s' -c 'import sys, glob, pyarrow.parquet as pq\n"
             "rows = []\n"
             "for f in glob.glob(sys.argv[1] + \"/**/*.parquet\", recursive=True):\n"
             "    rows += [(r[\"device_id\"], r[\"sequence\"], r.get(\"cabin_temp_c\"))"
             " for r in pq.read_table(f).to_pylist()]\n"
             "print(sorted(rows))' %s/lake 2>&1",
             arrow, dir);
    out = run(cmd, &rc);
    ck_assert_msg(rc == 0, "reading the Parquet files failed (%d): %s", rc, out);
    ck_assert_str_eq(out, "[('cf-dev-1', 1, None), ('cf-dev-1', 2, None), ('cf-dev-1', 3, None), "
                          "('cf-dev-1', 4, None), ('cf-dev-1', 5, None), ('cf-dev-1', 6, None), "
                          "('cf-dev-2', 1, 21.5), ('cf-go-1', 1, None)]\n");
    free(out);
    free(arrow);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("confluent_clients");
    TCase *tc = tcase_create("python");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_python_protobuf_workflow);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(suite)
