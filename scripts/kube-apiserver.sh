#!/usr/bin/env bash
# A real kube-apiserver + etcd on 127.0.0.1 for the Kubernetes collector's tests (test/kubernetes/apiserver.test.ts).
#
#   bash scripts/kube-apiserver.sh up     # build if needed, start, wait until ready, write the env file
#   bash scripts/kube-apiserver.sh env    # print the env file's path (source it)
#   bash scripts/kube-apiserver.sh stop   # stop both processes by recorded PID, remove the run directory
#
# How and why (throwaway module, flags, gotchas): ../shared/recipes/kube-apiserver.md.
# - kube-apiserver is built from the Go module proxy: `go install k8s.io/kubernetes/cmd/kube-apiserver@v…` fails
#   because k8s.io/kubernetes' go.mod replaces its 31 staging modules with local paths, so a throwaway module
#   requires k8s.io/kubernetes and replaces each staging module with its v0.X.Y release. The binary is cached in
#   $KUBE_CACHE_DIR (default $REPO/.cache/kube/<version>); the build is skipped when it is there.
# - etcd is Debian's etcd-server (3.4; works with kube-apiserver 1.33), installed with apt-get when missing.
# - Everything listens on 127.0.0.1 only. `up` is idempotent: a running, healthy instance is left alone.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
KUBE_VERSION="${KUBE_VERSION:-v1.33.13}"
KUBE_CACHE_DIR="${KUBE_CACHE_DIR:-$REPO/.cache/kube/$KUBE_VERSION}"
RUN_DIR="${KUBE_RUN_DIR:-/tmp/kube-test-run}"
API_PORT="${KUBE_API_PORT:-26443}"
ETCD_PORT="${KUBE_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${KUBE_ETCD_PEER_PORT:-23800}"
APISERVER="$KUBE_CACHE_DIR/kube-apiserver"

log() { echo "kube-apiserver.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

build_apiserver() {
  if [ -x "$APISERVER" ]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "Go is needed to build kube-apiserver $KUBE_VERSION (not on PATH)"
  local staging="v0.${KUBE_VERSION#v1.}"
  local work
  work="$(mktemp -d)"
  local started=$SECONDS
  log "building kube-apiserver $KUBE_VERSION (one-off, several minutes cold) in $work"
  curl -fsSL "https://proxy.golang.org/k8s.io/kubernetes/@v/$KUBE_VERSION.mod" -o "$work/upstream.mod" ||
    die "cannot fetch k8s.io/kubernetes@$KUBE_VERSION go.mod from the Go module proxy"
  {
    echo "module kubeapiserverbuild"
    echo
    # Same language version and GODEBUG defaults as upstream, so the binary behaves like the released one.
    grep -E '^go [0-9]' "$work/upstream.mod"
    grep -E '^godebug ' "$work/upstream.mod" || true
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    grep -E '^\s+k8s\.io/[^ ]+ => \./staging/' "$work/upstream.mod" |
      awk -v v="$staging" '{ print "\t" $1 " => " $1 " " v }'
    echo ")"
  } >"$work/go.mod"
  cat >"$work/tools.go" <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
  (
    cd "$work"
    export GOFLAGS="-buildvcs=false -mod=mod"
    # `go: downloading …` is ~150 lines of noise; keep everything else.
    go mod tidy 2>&1 | grep -v '^go: downloading' >&2 || true
    local minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    go build -trimpath -o "$work/kube-apiserver" \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
      k8s.io/kubernetes/cmd/kube-apiserver 2>&1 | grep -v '^go: downloading' >&2 || true
  )
  [ -x "$work/kube-apiserver" ] || die "kube-apiserver build failed (work dir kept: $work)"
  mkdir -p "$KUBE_CACHE_DIR"
  mv "$work/kube-apiserver" "$APISERVER.tmp" && mv "$APISERVER.tmp" "$APISERVER"
  rm -rf "$work"
  log "built kube-apiserver $KUBE_VERSION in $((SECONDS - started)) s -> $APISERVER"
}

find_etcd() {
  if command -v etcd >/dev/null 2>&1; then
    command -v etcd
  elif [ -x /usr/bin/etcd ]; then
    echo /usr/bin/etcd
  fi
}

install_etcd() {
  if [ -n "$(find_etcd)" ]; then
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  log "installing Debian's etcd-server (the package 'etcd' does not exist in Debian 12)"
  # apt-get update only when the install fails, e.g. on a fresh machine with empty package lists.
  if ! $sudo apt-get install -y --no-install-recommends etcd-server >&2; then
    $sudo apt-get update >&2
    $sudo apt-get install -y --no-install-recommends etcd-server >&2
  fi
  # On a systemd machine the package starts a system etcd on :2379; ours uses other ports, so switch it off.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled etcd >/dev/null 2>&1; then
    $sudo systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
  [ -n "$(find_etcd)" ] || die "etcd-server installed but no etcd binary found"
}

port_free() {
  # bash's /dev/tcp: a successful connect means something is listening.
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

make_certs() {
  local d="$RUN_DIR/pki"
  mkdir -p "$d"
  chmod 700 "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=egress-learner-test-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 \
      -extfile apiserver.ext 2>/dev/null
    # Admin client: group system:masters bypasses RBAC.
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
      -subj "/O=system:masters/CN=kube-test-admin" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 \
      -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # Static token for a user with no RBAC rights at all; tests bind the shipped ClusterRole to it.
    local token
    token="$(openssl rand -hex 24)"
    echo "$token,kube-test-limited,kube-test-limited-uid" >tokens.csv
    echo "$token" >limited.token
  )
}

b64() { base64 -w0 <"$1"; }

write_kubeconfigs() {
  local d="$RUN_DIR/pki" server="https://127.0.0.1:$API_PORT"
  cat >"$RUN_DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-test
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$d/ca.crt")
users:
- name: kube-test-admin
  user:
    client-certificate-data: $(b64 "$d/admin.crt")
    client-key-data: $(b64 "$d/admin.key")
contexts:
- name: kube-test-admin
  context:
    cluster: kube-test
    user: kube-test-admin
current-context: kube-test-admin
EOF
  cat >"$RUN_DIR/kubeconfig-limited" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-test
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$d/ca.crt")
users:
- name: kube-test-limited
  user:
    token: $(cat "$d/limited.token")
contexts:
- name: kube-test-limited
  context:
    cluster: kube-test
    user: kube-test-limited
current-context: kube-test-limited
EOF
  chmod 600 "$RUN_DIR/kubeconfig" "$RUN_DIR/kubeconfig-limited"
  cat >"$RUN_DIR/env" <<EOF
export KUBECONFIG=$RUN_DIR/kubeconfig
export KUBECONFIG_LIMITED=$RUN_DIR/kubeconfig-limited
export KUBE_API_URL=$server
export KUBE_API_CA=$d/ca.crt
export KUBE_LIMITED_USER=kube-test-limited
export KUBE_LIMITED_TOKEN=$(cat "$d/limited.token")
export KUBE_ETCD_URL=http://127.0.0.1:$ETCD_PORT
EOF
}

admin_curl() {
  local d="$RUN_DIR/pki"
  curl -fsS --max-time 5 --cacert "$d/ca.crt" --cert "$d/admin.crt" --key "$d/admin.key" \
    "https://127.0.0.1:$API_PORT$1"
}

running_and_ready() {
  [ -f "$RUN_DIR/apiserver.pid" ] && [ -f "$RUN_DIR/etcd.pid" ] && [ -f "$RUN_DIR/env" ] || return 1
  pid_alive "$(cat "$RUN_DIR/apiserver.pid")" && pid_alive "$(cat "$RUN_DIR/etcd.pid")" || return 1
  admin_curl /readyz >/dev/null 2>&1
}

fail_start() {
  log "$1"
  for f in etcd apiserver; do
    if [ -f "$RUN_DIR/$f.log" ]; then
      log "--- last lines of $f.log"
      tail -n 20 "$RUN_DIR/$f.log" >&2
    fi
  done
  do_stop
  exit 1
}

wait_for() {
  # wait_for <seconds> <description> <command…>
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail_start "timed out after ${limit}s waiting for $what"
    fi
    sleep 0.2
  done
}

do_up() {
  if running_and_ready; then
    log "already running (env: $RUN_DIR/env)"
    echo "$RUN_DIR/env"
    return 0
  fi
  # A stale run directory (crashed or half-stopped run) is cleaned up first.
  do_stop >/dev/null 2>&1 || true

  build_apiserver
  install_etcd
  local etcd
  etcd="$(find_etcd)"

  for p in "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
    port_free "$p" || die "port 127.0.0.1:$p is taken (override with KUBE_API_PORT / KUBE_ETCD_PORT / KUBE_ETCD_PEER_PORT)"
  done

  local started=$SECONDS
  mkdir -p "$RUN_DIR/etcd-data" "$RUN_DIR/certs"
  chmod 700 "$RUN_DIR/etcd-data"
  make_certs

  "$etcd" --name kube-test --data-dir "$RUN_DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "kube-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    >"$RUN_DIR/etcd.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/etcd.pid"
  wait_for 30 "etcd health" curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

  local d="$RUN_DIR/pki"
  # Flags and why: ../shared/recipes/kube-apiserver.md. ServiceAccount admission is off because no
  # controller-manager creates the `default` ServiceAccount (gotcha 1); the endpoint reconciler is off because
  # 127.0.0.1 "may not be in the loopback range" for the kubernetes Endpoints (gotcha 2).
  "$APISERVER" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --cert-dir="$RUN_DIR/certs" --tls-cert-file="$d/apiserver.crt" --tls-private-key-file="$d/apiserver.key" \
    --client-ca-file="$d/ca.crt" --token-auth-file="$d/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --allow-privileged=true \
    --disable-admission-plugins=ServiceAccount \
    --endpoint-reconciler-type=none \
    >"$RUN_DIR/apiserver.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/apiserver.pid"

  write_kubeconfigs
  wait_for 90 "kube-apiserver /readyz" admin_curl /readyz
  # /readyz turns ok slightly before the bootstrap ClusterRoles exist (gotcha 5).
  wait_for 30 "bootstrap RBAC (clusterroles/view)" admin_curl /apis/rbac.authorization.k8s.io/v1/clusterroles/view
  wait_for 30 "the default namespace" admin_curl /api/v1/namespaces/default
  log "ready in $((SECONDS - started)) s on https://127.0.0.1:$API_PORT (env: $RUN_DIR/env)"
  echo "$RUN_DIR/env"
}

stop_pid() {
  local file="$RUN_DIR/$1.pid"
  [ -f "$file" ] || return 0
  local pid
  pid="$(cat "$file")"
  if pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
      pid_alive "$pid" || break
      sleep 0.2
    done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

do_stop() {
  # The apiserver first, so it does not log a storm of etcd connection errors.
  stop_pid apiserver
  stop_pid etcd
  rm -rf "$RUN_DIR"
}

case "${1:-}" in
  up) do_up ;;
  stop) do_stop ;;
  env)
    [ -f "$RUN_DIR/env" ] || die "not running: no $RUN_DIR/env (run: bash scripts/kube-apiserver.sh up)"
    echo "$RUN_DIR/env"
    ;;
  *)
    echo "usage: bash scripts/kube-apiserver.sh up|stop|env" >&2
    exit 1
    ;;
esac
