#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, one combined broker + controller node) on 127.0.0.1 for the Kafka pipeline
# tests (test/pipeline/) and `npm run bench:kafka`.
#
#   bash scripts/kafka.sh up        # fetch the jars if needed, format, start, wait until ready, write the env file
#   bash scripts/kafka.sh env       # print the env file's path (source it: KAFKA_BOOTSTRAP=127.0.0.1:19092)
#   bash scripts/kafka.sh restart   # stop and start again, keeping the log dir (topics, offsets, transactions)
#   bash scripts/kafka.sh stop      # stop by recorded PID, remove the run directory
#
# How and why (versions, the missing logging binding, settings, timings): ../shared/recipes/kafka.md.
# - The broker's jars come from Maven Central through `mvn dependency:copy-dependencies` on kafka_2.13 (no
#   tarball, no apache.org); they are cached in $KAFKA_CACHE_DIR (default $REPO/.cache/kafka/<version>).
# - Kafka 3.x logs through slf4j 1.7 and ships no binding: without slf4j-reload4j the broker runs silently and
#   "Kafka Server started" never appears, so readiness could not be seen.
# - Everything listens on 127.0.0.1 only. `up` is idempotent: a running, ready broker is left alone.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-$REPO/.cache/kafka/$KAFKA_VERSION}"
RUN_DIR="${KAFKA_RUN_DIR:-/tmp/kafka-test-run}"
PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
JARS="$KAFKA_CACHE_DIR/jars"
CDS="$KAFKA_CACHE_DIR/broker.jsa"

log() { echo "kafka.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

port_free() {
  # bash's /dev/tcp: a successful connect means something is listening.
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

check_tools() {
  command -v java >/dev/null 2>&1 || die "java is needed (apt-get install -y openjdk-17-jre-headless)"
  command -v mvn >/dev/null 2>&1 || die "mvn is needed to fetch the broker jars (apt-get install -y maven)"
}

fetch_jars() {
  [ -f "$JARS/.complete" ] && return 0
  check_tools
  mkdir -p "$KAFKA_CACHE_DIR"
  local started=$SECONDS
  # The pom lists the jars to copy; it builds nothing. Pinned plugin: Maven 3.8.7 would pick dependency-plugin
  # 2.8. No <outputDirectory> in the pom, because one set there wins over -DoutputDirectory.
  cat >"$KAFKA_CACHE_DIR/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.egress-learner</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version>
    <configuration><includeScope>runtime</includeScope></configuration>
  </plugin></plugins></build>
</project>
EOF
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central (one-off, about 10 s)"
  rm -rf "$JARS.tmp"
  # Maven writes stray escape codes even with -B -q: keep its output in a log, shown only on failure.
  if ! mvn -B -q -f "$KAFKA_CACHE_DIR/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$JARS.tmp" >"$KAFKA_CACHE_DIR/mvn.log" 2>&1; then
    tail -n 30 "$KAFKA_CACHE_DIR/mvn.log" >&2
    die "mvn dependency:copy-dependencies failed (log: $KAFKA_CACHE_DIR/mvn.log)"
  fi
  rm -rf "$JARS" && mv "$JARS.tmp" "$JARS"
  # A new jar list invalidates the class-data archive.
  rm -f "$CDS"
  touch "$JARS/.complete"
  log "fetched $(ls "$JARS"/*.jar | wc -l) jars in $((SECONDS - started)) s -> $JARS"
}

write_config() {
  mkdir -p "$RUN_DIR/data"
  # Internal topics at replication factor 1 (else groups and transactions never get a coordinator), one
  # partition each (faster first join / first transaction), no initial rebalance delay, and a short broker
  # session so a restart after kill -9 is not refused with DUPLICATE_BROKER_REGISTRATION for 9 s.
  cat >"$RUN_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$RUN_DIR/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
auto.create.topics.enable=false
EOF
  cat >"$RUN_DIR/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.log=WARN
log4j.logger.org.apache.kafka.storage=WARN
log4j.logger.state.change.logger=WARN
EOF
}

broker_pid() { [ -f "$RUN_DIR/broker.pid" ] && cat "$RUN_DIR/broker.pid"; }

# The PID file could name a recycled PID after a reboot: only signal a java process running kafka.Kafka.
is_our_broker() {
  local pid=$1
  pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka.Kafka'
}

start_broker() {
  port_free "$PORT" || die "port 127.0.0.1:$PORT is taken (override with KAFKA_PORT)"
  port_free "$CONTROLLER_PORT" || die "port 127.0.0.1:$CONTROLLER_PORT is taken (override with KAFKA_CONTROLLER_PORT)"
  local started=$SECONDS
  if [ ! -f "$RUN_DIR/data/meta.properties" ]; then
    local cid
    cid="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    java -cp "$JARS/*" kafka.tools.StorageTool format -t "$cid" -c "$RUN_DIR/server.properties" \
      --ignore-formatted >"$RUN_DIR/format.log" 2>&1 || {
      cat "$RUN_DIR/format.log" >&2
      die "kafka-storage format failed"
    }
  fi
  # C1 only starts the broker about twice as fast; the class-data archive (written at the first clean exit)
  # halves it again. An archive that does not match the jars or JDK only costs a one-line JVM warning.
  local jvm=(-Xms256m -Xmx512m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true)
  if [ "${KAFKA_CDS:-1}" = 1 ]; then
    if [ -f "$CDS" ]; then jvm+=(-XX:SharedArchiveFile="$CDS" -Xshare:auto); else jvm+=(-XX:ArchiveClassesAtExit="$CDS"); fi
  fi
  : >"$RUN_DIR/broker.log"
  java "${jvm[@]}" -Dlog4j.configuration="file:$RUN_DIR/log4j.properties" -cp "$JARS/*" \
    kafka.Kafka "$RUN_DIR/server.properties" >>"$RUN_DIR/broker.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/broker.pid"
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-60}))
  # "Kafka Server started" is logged once the broker is unfenced and serves clients.
  until grep -q 'Kafka Server started' "$RUN_DIR/broker.log" 2>/dev/null; do
    if ! pid_alive "$(broker_pid)"; then
      tail -n 30 "$RUN_DIR/broker.log" >&2
      die "the broker exited during start (log: $RUN_DIR/broker.log)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$RUN_DIR/broker.log" >&2
      stop_broker
      die "timed out waiting for the broker (log: $RUN_DIR/broker.log)"
    fi
    sleep 0.1
  done
  cat >"$RUN_DIR/env" <<EOF
export KAFKA_BOOTSTRAP=127.0.0.1:$PORT
export KAFKA_RUN_DIR=$RUN_DIR
EOF
  log "ready in $((SECONDS - started)) s on 127.0.0.1:$PORT (env: $RUN_DIR/env)"
}

stop_broker() {
  local pid
  pid="$(broker_pid || true)"
  if [ -n "$pid" ] && is_our_broker "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    # A clean stop takes 2-3 s (about 4 s while the class-data archive is written).
    for i in $(seq 1 100); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/broker.pid" "$RUN_DIR/env"
}

running_and_ready() {
  local pid
  pid="$(broker_pid 2>/dev/null || true)"
  [ -n "$pid" ] && is_our_broker "$pid" && [ -f "$RUN_DIR/env" ] && ! port_free "$PORT"
}

do_up() {
  if running_and_ready; then
    log "already running (env: $RUN_DIR/env)"
    echo "$RUN_DIR/env"
    return 0
  fi
  stop_broker
  # Fresh data each `up`: tests create their own topics and must not see a previous run's.
  rm -rf "$RUN_DIR"
  fetch_jars
  write_config
  start_broker
  echo "$RUN_DIR/env"
}

do_restart() {
  [ -f "$RUN_DIR/server.properties" ] || die "not set up: no $RUN_DIR/server.properties (run: bash scripts/kafka.sh up)"
  stop_broker
  start_broker
  echo "$RUN_DIR/env"
}

case "${1:-}" in
  up) do_up ;;
  restart) do_restart ;;
  stop)
    stop_broker
    rm -rf "$RUN_DIR"
    ;;
  env)
    [ -f "$RUN_DIR/env" ] || die "not running: no $RUN_DIR/env (run: bash scripts/kafka.sh up)"
    echo "$RUN_DIR/env"
    ;;
  *)
    echo "usage: bash scripts/kafka.sh up|restart|stop|env" >&2
    exit 1
    ;;
esac
