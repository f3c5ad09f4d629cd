#!/usr/bin/env bash
#
# kafka_node.sh - a private single-node KRaft broker for an integration test that stops
# and restarts Kafka (tests/integration/test_mqtt_outage.c): started by the dev stack's
# own functions (scripts/lib/broker.sh) from the dev stack's jars, in a folder and on
# ports of the test's own. The dev stack's shared broker is never touched.
#
#   kafka_node.sh up DIR PORT CONTROLLER_PORT
#
# Starts the broker (formats DIR/data the first time; after a stop, the same DIR starts
# it again with its data) and waits until it serves; progress on stderr, then its pid
# alone on stdout (also in DIR/pid). Stopping it is the caller's: by that pid (SIGTERM,
# SIGKILL), never by name. The jars: TP_DEVSTACK_KAFKA_LIBS, else the repository's
# .devstack/kafka/libs (scripts/devstack up fetches them; never fetched here).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
[[ "${1:-}" == up && $# -eq 4 ]] || {
	sed -n '3,15p' "$0" >&2
	exit 2
}
DIR=$2
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)

LOG_NAME=kafka-node
KAFKA_DIR=$DIR
KAFKA_LIBS=${TP_DEVSTACK_KAFKA_LIBS:-$ROOT/.devstack/kafka/libs}
KAFKA_DATA=$DIR/data
KAFKA_PROPS=$DIR/server.properties
KAFKA_LOG4J=$DIR/log4j.properties
KAFKA_TOOLS_LOG4J=$DIR/tools-log4j.properties
KAFKA_LOG=$DIR/log
KAFKA_PIDFILE=$DIR/pid
KAFKA_BOOTSTRAP_FILE=$DIR/bootstrap
KAFKA_CLUSTER_ID_FILE=$DIR/cluster-id
BROKER_MODE_FILE=$DIR/broker-mode
KAFKA_POM=$ROOT/scripts/kafka/pom.xml
KAFKA_PORT=$3
KAFKA_CPORT=$4
KAFKA_START_TIMEOUT=${TP_DEVSTACK_KAFKA_TIMEOUT:-120}
KAFKA_STOP_TIMEOUT=30
KAFKA_HEAP="-Xms128m -Xmx512m"
# a small node for one test: few partitions for the internal topics
KAFKA_EXTRA_CONFIG="# tests/support/kafka_node.sh
num.partitions=3
offsets.topic.num.partitions=3
transaction.state.log.num.partitions=3"
# the jars are the dev stack's, which its running broker uses: never resolved here
KAFKA_LIBS_READY=1

# shellcheck source=../../scripts/lib/broker.sh
source "$ROOT/scripts/lib/broker.sh"

command -v java >/dev/null || die "java not found: run scripts/install-deps"
compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null ||
	die "no kafka jars in \"$KAFKA_LIBS\": scripts/devstack up fetches them (or set TP_DEVSTACK_KAFKA_LIBS)"
if pid=$(pid_of "$KAFKA_PIDFILE" kafka.Kafka); then
	die "a broker already runs from \"$DIR\" (pid $pid)"
fi
kafka_up >&2
cat "$KAFKA_PIDFILE"
