#!/usr/bin/env bash
# ci-docker.sh: the Docker half of CI. On a machine that reaches package
# registries but no container registry, it
#   1. installs Docker (Debian's docker.io) and debootstrap when absent, and
#      the Compose v2 plugin (built once from the Go module proxy),
#   2. starts dockerd when none answers, and stops it again at the end
#      (only a daemon it started itself),
#   3. builds the images (scripts/docker-images.sh: the Debian+JRE base and
#      the Kafka image are cached by a hash of their inputs, closesink is
#      rebuilt from `make build`),
#   4. runs `make test-docker`: the whole suite on the testcontainers backend,
#      the image test and the compose smoke test,
#   5. checks that no container or network of the run is left.
# Prints the time each step took. Needs root for the installs and dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

COMPOSE_VERSION=v2.40.3
CACHE_HOME="${XDG_CACHE_HOME:-$HOME/.cache}/closesink"
LOG_DIR=.cache/ci-docker
mkdir -p "$LOG_DIR"

t0=$SECONDS
step_start=$SECONDS
step() {
  echo "::: docker: $1 (previous step took $((SECONDS - step_start))s)"
  step_start=$SECONDS
}
timing() { echo "::: docker: $1 took $((SECONDS - step_start))s"; }

started_dockerd=
finish() {
  local rc=$?
  if [[ $rc != 0 ]]; then
    echo "::: docker: FAILED (exit $rc)" >&2
    docker ps -a 2>/dev/null >&2 || true
    [[ -f "$LOG_DIR/dockerd.log" ]] && tail -n 20 "$LOG_DIR/dockerd.log" >&2
  fi
  if [[ -n "$started_dockerd" ]]; then
    echo "::: docker: stopping the dockerd this script started (pid $started_dockerd)"
    kill -TERM "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$started_dockerd" 2>/dev/null || break
      sleep 0.2
    done
  fi
  echo "::: docker: total $((SECONDS - t0))s"
  exit "$rc"
}
trap finish EXIT

step "install"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  apt-get update -qq >"$LOG_DIR/apt.log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/apt.log" >&2; exit 1; }
fi
timing "install"

step "dockerd"
if docker info >/dev/null 2>&1; then
  echo "a Docker engine already answers; using it (and leaving it running)"
else
  setsid dockerd >"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
  started_dockerd=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$started_dockerd" 2>/dev/null || { cat "$LOG_DIR/dockerd.log" >&2; exit 1; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -n 30 "$LOG_DIR/dockerd.log" >&2; echo "dockerd did not answer" >&2; exit 1; }
fi
docker version --format 'Docker client {{.Client.Version}}, engine {{.Server.Version}}'
timing "dockerd"

# Compose v2 is no Debian package. Its module is on the Go module proxy, but
# `go install …@version` refuses it (its go.mod has exclude directives), so
# it is built inside its own module from the module cache. Built once per
# machine (about 7 minutes cold on 2 cores), then reused. Started in the
# background: it needs CPU while the base image build waits on the network.
compose_bin="$CACHE_HOME/docker-compose-$COMPOSE_VERSION"
plugin="$HOME/.docker/cli-plugins/docker-compose"
compose_pid=
if ! docker compose version >/dev/null 2>&1 || [[ "$(docker compose version --short 2>/dev/null)" != "${COMPOSE_VERSION#v}" ]]; then
  if [[ ! -x "$compose_bin" ]]; then
    echo "::: docker: building Compose $COMPOSE_VERSION from the Go module proxy in the background"
    (
      set -e
      mkdir -p "$CACHE_HOME"
      dir="$(GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
      cd "$dir"
      GOFLAGS=-buildvcs=false GOTOOLCHAIN=local go build -trimpath \
        -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
        -o "$compose_bin.tmp" ./cmd
      mv "$compose_bin.tmp" "$compose_bin"
    ) >"$LOG_DIR/compose-build.log" 2>&1 &
    compose_pid=$!
  fi
fi

step "images"
scripts/docker-images.sh all | tee "$LOG_DIR/images.env"
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(closesink|closesink-ci/)' || true
timing "images"

step "compose"
if [[ -n "$compose_pid" ]]; then
  wait "$compose_pid" || { tail -n 30 "$LOG_DIR/compose-build.log" >&2; exit 1; }
fi
if [[ -x "$compose_bin" ]]; then
  mkdir -p "$(dirname "$plugin")"
  cmp -s "$compose_bin" "$plugin" 2>/dev/null || cp "$compose_bin" "$plugin"
fi
docker compose version
timing "compose (waiting for its build)"

step "make test-docker"
set -a
# shellcheck disable=SC1091 # written just above
. "$LOG_DIR/images.env"
set +a
make test-docker
timing "make test-docker"

step "leftovers"
# A test process's broker container removes itself once the process has
# exited (its stdin closes); give the last ones a moment.
leftovers() {
  local label
  for label in org.closesink.kafkatest org.closesink.deploy-test com.docker.compose.project; do
    docker ps -a -q --filter "label=$label"
  done
}
for _ in $(seq 1 60); do
  [[ -z "$(leftovers)" ]] && break
  sleep 0.5
done
left="$(leftovers)"
nets="$(docker network ls -q --filter label=org.closesink.deploy-test)$(docker network ls -q --filter label=com.docker.compose.project)"
if [[ -n "$left$nets" ]]; then
  docker ps -a >&2
  docker network ls >&2
  echo "containers or networks of the test run were left behind" >&2
  exit 1
fi
echo "no container or network of the run is left"
timing "leftovers"
echo "::: docker: OK"
