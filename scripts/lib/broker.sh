# shellcheck shell=bash
#
# scripts/lib/broker.sh - sourced by scripts/devstack and scripts/regions: the
# helpers both use (log, pids, ports) and the single-node KRaft broker's
# start/stop (kafka_up, kafka_stop, ...). Not runnable by itself.
#
# The kafka_* functions read these globals, which the sourcing script sets
# (one broker at a time; scripts/regions runs each broker in a subshell):
#   ROOT, KAFKA_DIR, KAFKA_LIBS, KAFKA_DATA, KAFKA_PROPS, KAFKA_LOG4J,
#   KAFKA_TOOLS_LOG4J, KAFKA_LOG, KAFKA_PIDFILE, KAFKA_BOOTSTRAP_FILE,
#   KAFKA_CLUSTER_ID_FILE, KAFKA_POM, KAFKA_PORT, KAFKA_CPORT,
#   KAFKA_START_TIMEOUT, KAFKA_STOP_TIMEOUT, BROKER_MODE_FILE
# and optionally LOG_NAME (message prefix, default devstack), KAFKA_HEAP
# (default -Xms256m -Xmx1g), KAFKA_EXTRA_CONFIG (lines appended to
# server.properties: later keys win), KAFKA_LIBS_READY (1: kafka_up does not
# resolve the jars), KAFKA_MIRROR_LIBS (MirrorMaker 2's jars, default
# $KAFKA_DIR/mirror-libs).

# ---------------------------------------------------------------- helpers

log() { printf '%s: %s\n' "${LOG_NAME:-devstack}" "$*" >&2; }
die() { log "$*"; exit 1; }

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# seconds since a now_ms value, one decimal: "1.4 s"
since() {
	local ms=$(($(now_ms) - $1))
	printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A fixed port is unusable while a socket other than our own old listener
# holds it: a listener, or an outgoing connection that got it as its ephemeral
# local port (linux picks those from 32768-60999, where our default ports lie).
# Such a connection even keeps the port for 60 s in TIME-WAIT after it closed,
# and bind() fails meanwhile: the start functions retry for BIND_RETRY_S.
# Listeners and open connections fail at once. Sockets whose own end is already
# closed (TIME-WAIT, FIN-WAIT-*, CLOSING, LAST-ACK) are left to that retry: a
# server we stopped leaves one in FIN-WAIT-2 for each client that has not
# noticed yet (an idle libpq connection), and they do not keep it from binding.
BIND_RETRY_S=75
port_check() {
	local port=$1 var=$2 holders
	holders=$(ss -tanpH "sport = :$port" 2>/dev/null |
		grep -Ev '^(TIME-WAIT|FIN-WAIT-1|FIN-WAIT-2|CLOSING|LAST-ACK) ' || true)
	[[ -z "$holders" ]] && return 0
	log "port $port is in use:"
	printf '%s\n' "$holders" | sed 's/^/    /' >&2
	die "cannot use port $port: stop what holds it or set $var"
}

bind_retry_note() {
	log "$1: port $2 is held by a closed connection in TIME-WAIT that had it as its ephemeral port; retrying for up to $BIND_RETRY_S s"
	log "hint: sysctl -w net.ipv4.ip_local_reserved_ports=${PG_PORT:+$PG_PORT,}$KAFKA_PORT,$KAFKA_CPORT keeps outgoing connections off these ports"
}

# last lines of a log file, indented, for error messages
log_tail() {
	[[ -f "$1" ]] || return 0
	log "last lines of $1:"
	tail -n "${2:-25}" "$1" | sed 's/^/    /' >&2
}

# alive PID: the process exists and is not a zombie waiting for init to reap it
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]]
}

# wait up to $2 s while pid $1 exists, even as a zombie (postgres refuses to
# start while the pid in its lock file exists)
wait_reaped() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
}

# pid_of PIDFILE PATTERN: print the recorded pid when that process is alive
# and its command line contains PATTERN (guards against a recycled pid)
pid_of() {
	local pid
	[[ -f "$1" ]] || return 1
	pid=$(<"$1")
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
	echo "$pid"
}
# ---------------------------------------------------------------- kafka

# kafka's command line tools (StorageTool, TopicCommand): warnings to stderr
kafka_java() { java -Dlog4j.configuration="file:$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIBS/*" "$@"; }

kafka_libs() {
	local sum
	sum=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
	if [[ -f "$KAFKA_LIBS/.pom-sha256" && "$(<"$KAFKA_LIBS/.pom-sha256")" == "$sum" ]]; then
		return 0
	fi
	local t0 tmp=$KAFKA_DIR/libs.tmp
	t0=$(now_ms)
	echo "kafka: resolving jars with maven (once; ~30 s on a cold ~/.m2)"
	rm -rf "$tmp"
	if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
		-DoutputDirectory="$tmp" >"$KAFKA_DIR/mvn.log" 2>&1; then
		log_tail "$KAFKA_DIR/mvn.log"
		die "could not resolve the kafka jars with maven (TP_DEVSTACK_BROKER=mock starts the in-memory broker instead)"
	fi
	echo "$sum" >"$tmp/.pom-sha256"
	rm -rf "$KAFKA_LIBS"
	mv "$tmp" "$KAFKA_LIBS"
	echo "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $(since "$t0")"
}

# MirrorMaker 2's two jars (connect-mirror, connect-mirror-client: profile
# "mirror" of the same pom, so the same kafka.version) into KAFKA_MIRROR_LIBS;
# the rest of its classpath is KAFKA_LIBS. A folder of its own, so that
# fetching them never replaces the jars a running broker uses. Once per pom.
kafka_mirror_libs() {
	local dir=${KAFKA_MIRROR_LIBS:-$KAFKA_DIR/mirror-libs} sum
	sum=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
	if [[ -f "$dir/.pom-sha256" && "$(<"$dir/.pom-sha256")" == "$sum" ]]; then
		return 0
	fi
	local t0 tmp=$dir.tmp
	t0=$(now_ms)
	mkdir -p "$(dirname "$dir")"
	echo "kafka: resolving MirrorMaker 2's jars with maven (once)"
	rm -rf "$tmp"
	if ! mvn -q -B -f "$KAFKA_POM" -P mirror dependency:copy-dependencies \
		-DincludeArtifactIds=connect-mirror,connect-mirror-client \
		-DoutputDirectory="$tmp" >"$dir.mvn.log" 2>&1; then
		log_tail "$dir.mvn.log"
		die "could not resolve connect-mirror and connect-mirror-client with maven"
	fi
	echo "$sum" >"$tmp/.pom-sha256"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	echo "kafka: $(find "$dir" -name '*.jar' | wc -l) MirrorMaker 2 jars in $(since "$t0")"
}

kafka_write_config() {
	cat >"$KAFKA_PROPS" <<-EOF
		# written by scripts/devstack on every "up": edits are lost
		process.roles=broker,controller
		node.id=1
		controller.quorum.voters=1@127.0.0.1:$KAFKA_CPORT
		listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CPORT
		advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
		inter.broker.listener.name=PLAINTEXT
		controller.listener.names=CONTROLLER
		listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
		log.dirs=$KAFKA_DATA
		num.partitions=6
		default.replication.factor=1
		auto.create.topics.enable=false
		offsets.topic.replication.factor=1
		transaction.state.log.replication.factor=1
		transaction.state.log.min.isr=1
		min.insync.replicas=1
		group.initial.rebalance.delay.ms=0
	EOF
	[[ -z "${KAFKA_EXTRA_CONFIG:-}" ]] || printf '%s\n' "$KAFKA_EXTRA_CONFIG" >>"$KAFKA_PROPS"
	cat >"$KAFKA_LOG4J" <<-'EOF'
		# written by scripts/devstack on every "up": edits are lost
		log4j.rootLogger=INFO, stdout
		log4j.appender.stdout=org.apache.log4j.ConsoleAppender
		log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
		log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
		# per-partition and per-request chatter
		log4j.logger.kafka.request.logger=WARN
		log4j.logger.state.change.logger=WARN
		log4j.logger.kafka.log=WARN
		log4j.logger.org.apache.kafka.storage.internals.log=WARN
		log4j.logger.kafka.cluster.Partition=WARN
	EOF
	cat >"$KAFKA_TOOLS_LOG4J" <<-'EOF'
		# written by scripts/devstack: for kafka's command line tools, e.g.
		#   java -Dlog4j.configuration=file:.devstack/kafka/tools-log4j.properties \
		#     -cp '.devstack/kafka/libs/*' org.apache.kafka.tools.TopicCommand ...
		log4j.rootLogger=WARN, stderr
		log4j.appender.stderr=org.apache.log4j.ConsoleAppender
		log4j.appender.stderr.Target=System.err
		log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
		log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
	EOF
}

kafka_format() {
	if [[ ! -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
		kafka_java kafka.tools.StorageTool random-uuid >"$KAFKA_CLUSTER_ID_FILE.tmp" ||
			die "could not generate a kafka cluster id"
		mv "$KAFKA_CLUSTER_ID_FILE.tmp" "$KAFKA_CLUSTER_ID_FILE"
	fi
	[[ -f "$KAFKA_DATA/meta.properties" ]] && return 0
	local t0
	t0=$(now_ms)
	if ! kafka_java kafka.tools.StorageTool format --ignore-formatted \
		-t "$(<"$KAFKA_CLUSTER_ID_FILE")" -c "$KAFKA_PROPS" >"$KAFKA_DIR/format.log" 2>&1; then
		log_tail "$KAFKA_DIR/format.log"
		die "could not format the kafka storage in \"$KAFKA_DATA\""
	fi
	echo "kafka: storage formatted (cluster $(<"$KAFKA_CLUSTER_ID_FILE")) in $(since "$t0")"
}

kafka_up() {
	local t0
	t0=$(now_ms)
	port_check "$KAFKA_PORT" TP_DEVSTACK_KAFKA_PORT
	port_check "$KAFKA_CPORT" TP_DEVSTACK_KAFKA_CONTROLLER_PORT
	mkdir -p "$KAFKA_DIR"
	# KAFKA_LIBS_READY=1: the caller checked the jars (scripts/regions, whose
	# brokers share a folder a running broker may use)
	[[ "${KAFKA_LIBS_READY:-0}" == 1 ]] || kafka_libs
	kafka_write_config
	kafka_format

	local deadline=$(($(now_ms) + BIND_RETRY_S * 1000)) port
	until kafka_start_once; do
		(($(now_ms) < deadline)) || kafka_start_failed
		port=$(grep -o -m1 'failed to bind to [0-9.]*:[0-9]*' "$KAFKA_LOG" | sed 's/.*://' || true)
		bind_retry_note kafka "${port:-$KAFKA_PORT}"
		# a jvm start is costly: retry once the TIME-WAIT sockets are gone
		while [[ -n "$(ss -tanH state time-wait "( sport = :$KAFKA_PORT or sport = :$KAFKA_CPORT )" 2>/dev/null)" ]] &&
			(($(now_ms) < deadline)); do
			sleep 1
		done
	done
	echo "kafka: started on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CPORT, pid $(<"$KAFKA_PIDFILE")) in $(since "$t0")"
}

# start the broker and wait until it is ready: returns 0 when ready, 1 when it
# could not bind its ports (worth a retry), exits on any other failure
kafka_start_once() {
	[[ -f "$KAFKA_LOG" ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
	# shellcheck disable=SC2086 # KAFKA_HEAP is a list of options
	setsid nohup java ${KAFKA_HEAP:--Xms256m -Xmx1g} -Djava.awt.headless=true \
		-Dlog4j.configuration="file:$KAFKA_LOG4J" \
		-cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
		>"$KAFKA_LOG" 2>&1 </dev/null 9>&- &
	local pid=$!
	echo "$pid" >"$KAFKA_PIDFILE"
	echo kafka >"$BROKER_MODE_FILE"
	echo "127.0.0.1:$KAFKA_PORT" >"$KAFKA_BOOTSTRAP_FILE"

	# ready = the server logged its start (broker registered and unfenced)
	# and the listener accepts connections
	local deadline=$(($(now_ms) + KAFKA_START_TIMEOUT * 1000))
	while :; do
		if ! alive "$pid"; then
			rm -f "$KAFKA_PIDFILE"
			grep -q 'Address already in use' "$KAFKA_LOG" && return 1
			kafka_start_failed
		fi
		if grep -q 'Kafka Server started' "$KAFKA_LOG" && port_open "$KAFKA_PORT"; then
			break
		fi
		if (($(now_ms) > deadline)); then
			log_tail "$KAFKA_LOG" 40
			kafka_stop "$pid"
			rm -f "$KAFKA_PIDFILE"
			die "kafka was not ready within ${KAFKA_START_TIMEOUT} s: stopped it (log \"$KAFKA_LOG\")"
		fi
		sleep 0.25
	done
	pid_of "$KAFKA_PIDFILE" kafka.Kafka >/dev/null ||
		die "recorded kafka pid $pid does not run kafka.Kafka"
	return 0
}

# the first errors are the cause; the tail is mostly the shutdown
kafka_start_failed() {
	log "first errors in $KAFKA_LOG:"
	grep -m 8 -E '^\[[^]]*\] (ERROR|FATAL)|^Caused by' "$KAFKA_LOG" | cut -c1-300 | sed 's/^/    /' >&2 || true
	die "kafka exited while starting (log \"$KAFKA_LOG\")"
}

# SIGTERM, wait, then SIGKILL
kafka_stop() {
	local pid=$1 limit=${2:-$KAFKA_STOP_TIMEOUT} i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < limit * 10; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	log "pid $pid still running after ${limit} s: sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	die "could not stop pid $pid"
}

