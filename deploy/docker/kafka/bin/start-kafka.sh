#!/usr/bin/env bash
# start-kafka.sh: the image's entrypoint. Writes server.properties, formats
# the KRaft store once, runs the broker with console logging.
#
# Settings, as in the apache/kafka image: each environment variable
# KAFKA_<NAME> becomes a property, <NAME> lowercased with "_" → ".",
# "__" → "_" and "___" → "-" (KAFKA_NODE_ID=1 → node.id=1). With none set,
# a single node listens on :9092 (clients, advertised as localhost:9092)
# and :9093 (controller). CLUSTER_ID sets the cluster id.
#
# Two extras for tests:
#   KAFKA_ADVERTISED_LISTENERS_FILE=/path  wait (up to 120 s) for this file and
#       use its content as advertised.listeners: a test that publishes the
#       client port on a random host port writes it once the port is known.
#   STOP_ON_STDIN_EOF=true  stop the broker (and so the container) when
#       standard input closes: a test process that stays attached to the
#       container's stdin takes the container with it when it exits, even
#       when it is killed, with no reaper container.
set -euo pipefail

CONF=/opt/kafka/config/server.properties
DATA="${KAFKA_LOG_DIRS:-/var/lib/kafka/data}"
say() { echo "start-kafka: $*" >&2; }

declare -A props=(
  [process.roles]=broker,controller
  [node.id]=1
  [controller.quorum.voters]=1@localhost:9093
  [listeners]=PLAINTEXT://:9092,CONTROLLER://:9093
  [advertised.listeners]=PLAINTEXT://localhost:9092
  [controller.listener.names]=CONTROLLER
  [listener.security.protocol.map]=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
  [inter.broker.listener.name]=PLAINTEXT
  [log.dirs]="$DATA"
  [num.partitions]=1
  [offsets.topic.replication.factor]=1
  [offsets.topic.num.partitions]=1
  [transaction.state.log.replication.factor]=1
  [transaction.state.log.min.isr]=1
  [transaction.state.log.num.partitions]=1
  [share.coordinator.state.topic.replication.factor]=1
  [share.coordinator.state.topic.min.isr]=1
  [group.initial.rebalance.delay.ms]=0
  [auto.create.topics.enable]=false
  [num.network.threads]=2
  [num.io.threads]=2
)

# Not properties: the JVM's and this script's own variables.
skip='^KAFKA_(HEAP_OPTS|OPTS|JVM_PERFORMANCE_OPTS|LOG4J_OPTS|VERSION|ADVERTISED_LISTENERS_FILE|TOOLS_HEAP)$'
while IFS='=' read -r name value; do
  [[ "$name" =~ ^KAFKA_ && ! "$name" =~ $skip ]] || continue
  key="${name#KAFKA_}"
  key="${key,,}"
  key="${key//___/-}"
  key="${key//__/@}"
  key="${key//_/.}"
  key="${key//@/_}"
  props[$key]="$value"
done < <(env)

# A controller quorum given by voters makes the default bootstrap line moot.
if [[ -n "${KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS:-}" ]]; then
  unset 'props[controller.quorum.voters]'
fi

if [[ -n "${KAFKA_ADVERTISED_LISTENERS_FILE:-}" ]]; then
  say "waiting for $KAFKA_ADVERTISED_LISTENERS_FILE"
  for ((i = 0; i < 1200; i++)); do
    [[ -s "$KAFKA_ADVERTISED_LISTENERS_FILE" ]] && break
    sleep 0.1
  done
  [[ -s "$KAFKA_ADVERTISED_LISTENERS_FILE" ]] || { say "no $KAFKA_ADVERTISED_LISTENERS_FILE after 120s"; exit 1; }
  props[advertised.listeners]="$(tr -d '[:space:]' <"$KAFKA_ADVERTISED_LISTENERS_FILE")"
fi

{
  echo "# Written by start-kafka.sh at container start."
  for key in "${!props[@]}"; do echo "$key=${props[$key]}"; done | LC_ALL=C sort
} >"$CONF"
say "advertised.listeners=${props[advertised.listeners]}"

JAVA_OPTS=(${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.xml
  ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*')

mkdir -p "$DATA"
if [[ ! -f "$DATA/meta.properties" ]]; then
  java -Xmx256m -Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.xml -cp '/opt/kafka/libs/*' \
    kafka.tools.StorageTool format --ignore-formatted \
    -t "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$CONF" >&2
fi

if [[ "${STOP_ON_STDIN_EOF:-}" != true ]]; then
  exec java "${JAVA_OPTS[@]}" kafka.Kafka "$CONF"
fi

# Lease mode: the broker runs while stdin is open.
exec 3<&0
java "${JAVA_OPTS[@]}" kafka.Kafka "$CONF" </dev/null &
broker=$!
cat <&3 >/dev/null &
lease=$!
stopping=
trap 'stopping=1; kill -TERM "$broker" 2>/dev/null || true' TERM INT
set +e
wait -n "$broker" "$lease"
if [[ -z "$stopping" ]] && kill -0 "$broker" 2>/dev/null; then
  say "standard input closed: the test process that owned this broker is gone; stopping"
  kill -KILL "$broker"
  exit 0
fi
wait "$broker"
rc=$?
kill "$lease" 2>/dev/null
say "broker exited ($rc)"
exit "$rc"
