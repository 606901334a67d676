#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, one combined broker + controller node) on 127.0.0.1 for the Kafka pipeline
# tests (test/pipeline/) and `npm run bench:kafka`.
#
#   bash scripts/kafka.sh up        # fetch the jars if needed, format, start, wait until ready, write the env file
#   bash scripts/kafka.sh env       # print the env file's path (source it: KAFKA_BOOTSTRAP=127.0.0.1:19092)
#   bash scripts/kafka.sh restart   # stop and start again, keeping the log dir (topics, offsets, transactions)
#   bash scripts/kafka.sh stop      # stop by recorded PID, remove the run directory
#
# Besides PLAINTEXT on $KAFKA_PORT (19092), the same broker listens on secured loopback listeners, so the TLS and
# SASL options of `collect kafka` are tested against a real broker (test/pipeline/secured.test.ts):
#   19094 SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#   19095 SSL             server certificate only
#   19096 SASL_SSL        PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 over TLS
#   19097 SSL             mutual TLS: a client certificate signed by the test CA is required
# A throwaway CA, the broker's certificate (SAN IP:127.0.0.1) and a client certificate are made with openssl at
# `up` time in $RUN_DIR/tls; the SCRAM users are written into the metadata log by `format --add-scram`, so no
# admin step is needed. Ports, users, passwords and PEM paths are in the env file.
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
SASL_PORT="${KAFKA_SASL_PORT:-19094}"
SSL_PORT="${KAFKA_SSL_PORT:-19095}"
SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-19096}"
MTLS_PORT="${KAFKA_MTLS_PORT:-19097}"
TLS_DIR="$RUN_DIR/tls"
# Test credentials for a broker that listens on loopback only (its PLAINTEXT listener needs none at all).
SASL_USER=egress-learner
SASL_PASSWORD=egress-learner-secret
# Protects the broker's PEM key only: Kafka reads a PEM key store file only with an encrypted key (and a key
# password).
KEY_PASSWORD=broker-key-secret
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

# A throwaway CA signing the broker's and a client's certificate, plus a second CA that signed nothing (what an
# "untrusted CA" test passes). EC P-256 keys: generated in milliseconds. Valid for 30 days, for a broker left
# running; every `up` makes new ones.
make_tls() {
  command -v openssl >/dev/null 2>&1 || die "openssl is needed for the TLS listeners (apt-get install -y openssl)"
  local d=$TLS_DIR
  mkdir -p "$d"
  (
    cd "$d"
    openssl_quiet() { openssl "$@" >>openssl.log 2>&1 || die "openssl $1 failed (log: $d/openssl.log)"; }
    for ca in ca other-ca; do
      openssl_quiet req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -keyout "$ca-key.pem" -out "$ca.pem" -subj "/CN=egress-learner test $ca"
    done
    # Node checks the address it dialled against the certificate's IP SANs, so 127.0.0.1 must be one.
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >broker.ext
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    for who in broker client; do
      openssl_quiet req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$who-key.pem" -out "$who.csr" -subj "/CN=egress-learner test $who"
      openssl_quiet x509 -req -in "$who.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
        -extfile "$who.ext" -out "$who.pem"
    done
    # Kafka's PEM key store: the encrypted PKCS#8 key followed by the certificate chain, in one file. PKCS#5 v1.5
    # 3DES, not openssl's default PBES2: Java 17 has no "PBES2" SecretKeyFactory, and the broker would refuse
    # the key ("Failed to load PEM SSL keystore").
    openssl_quiet pkcs8 -topk8 -in broker-key.pem -v1 PBE-SHA1-3DES -passout "pass:$KEY_PASSWORD" \
      -out broker-key.enc.pem
    cat broker-key.enc.pem broker.pem ca.pem >broker-keystore.pem
    rm -f ./*.csr ./*.ext ./*.srl ca-key.pem other-ca-key.pem broker-key.pem broker-key.enc.pem
  )
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
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SSL://127.0.0.1:$SSL_PORT,SASL_SSL://127.0.0.1:$SASL_SSL_PORT,MTLS://127.0.0.1:$MTLS_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SSL://127.0.0.1:$SSL_PORT,SASL_SSL://127.0.0.1:$SASL_SSL_PORT,MTLS://127.0.0.1:$MTLS_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,MTLS:SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker-keystore.pem
ssl.key.password=$KEY_PASSWORD
listener.name.mtls.ssl.client.auth=required
listener.name.mtls.ssl.truststore.type=PEM
listener.name.mtls.ssl.truststore.location=$TLS_DIR/ca.pem
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
  local p
  for p in SASL_PORT SSL_PORT SASL_SSL_PORT MTLS_PORT; do
    port_free "${!p}" || die "port 127.0.0.1:${!p} is taken (override with KAFKA_$p)"
  done
  local started=$SECONDS
  if [ ! -f "$RUN_DIR/data/meta.properties" ]; then
    local cid
    # A cluster id starting with '-' would be taken for an option by the tool's argument parser (1 run in 64).
    cid=-
    while [ "${cid:0:1}" = - ]; do cid="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"; done
    # SCRAM credentials go into the metadata log at format time (KIP-900): a KRaft broker needs no admin call.
    java -cp "$JARS/*" kafka.tools.StorageTool format -t "$cid" -c "$RUN_DIR/server.properties" \
      --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
      --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" \
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
export KAFKA_SASL_BOOTSTRAP=127.0.0.1:$SASL_PORT
export KAFKA_SSL_BOOTSTRAP=127.0.0.1:$SSL_PORT
export KAFKA_SASL_SSL_BOOTSTRAP=127.0.0.1:$SASL_SSL_PORT
export KAFKA_MTLS_BOOTSTRAP=127.0.0.1:$MTLS_PORT
export KAFKA_SASL_USERNAME=$SASL_USER
export KAFKA_SASL_PASSWORD=$SASL_PASSWORD
export KAFKA_TLS_CA=$TLS_DIR/ca.pem
export KAFKA_TLS_OTHER_CA=$TLS_DIR/other-ca.pem
export KAFKA_TLS_CLIENT_CERT=$TLS_DIR/client.pem
export KAFKA_TLS_CLIENT_KEY=$TLS_DIR/client-key.pem
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
  make_tls
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
