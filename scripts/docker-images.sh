#!/usr/bin/env bash
# docker-images.sh: builds, without pulling anything, the images the Docker
# tests and the CI compose run use. Every image is built from local inputs:
#
#   scripts/docker-images.sh base        # Debian bookworm + OpenJDK 17 JRE, from Debian's
#                                        # own packages (debootstrap), imported as an image
#   scripts/docker-images.sh kafka       # the project's Kafka broker image
#                                        # (deploy/docker/kafka) on that base
#   scripts/docker-images.sh closesink   # bin/closesink (make build) in scratch
#                                        # (deploy/docker/closesink.Dockerfile)
#   scripts/docker-images.sh all         # the three, in that order
#   scripts/docker-images.sh env         # the image names, as NAME=value lines
#
# base and kafka are cached: each image carries a label with a hash of its
# inputs (the recipe, the Kafka jars' pom, the build context, the base image
# id), and is rebuilt only when that hash changes or the image is missing.
# closesink is rebuilt every time (a scratch image with one binary: ~1 s).
#
# With a registry at hand, BASE_IMAGE=<a public JRE 17+ image> skips the
# debootstrap step: `scripts/docker-images.sh kafka` then builds on it.
#
# Environment: KAFKA_IMAGE (default closesink/kafka:local), CLOSESINK_IMAGE
# (closesink:ci), BASE_IMAGE (default: the debootstrapped image below).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/docker"
LABEL=org.closesink.inputs

KAFKA_IMAGE="${KAFKA_IMAGE:-closesink/kafka:local}"
CLOSESINK_IMAGE="${CLOSESINK_IMAGE:-closesink:ci}"
SUITE=bookworm
BASE_PACKAGES=openjdk-17-jre-headless
# Bump to force a rebuild of the base image after changing its recipe.
BASE_RECIPE=1
BASE_REPO=closesink-ci/debian-jre

say() { echo "docker-images: $*" >&2; }
die() { say "error: $*"; exit 1; }

# The build context holds local files only, and every FROM is a local image
# or scratch: the classic builder never pulls an image it already has.
# (BuildKit is not used: Debian's Docker 20.10 has no buildx plugin.)
docker_build() { DOCKER_BUILDKIT=0 docker build -q "$@" >/dev/null; }

label_of() { docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }

hash_stdin() { sha256sum | cut -c1-16; }

# The pins live in scripts/kafka-local.sh only.
pin() { sed -n "s/^$1=//p" "$ROOT/scripts/kafka-local.sh"; }
kafka_version() { pin KAFKA_VERSION; }

# fetch_tools prints a folder with kafka-tools (kafka-topics.sh and
# kafka-broker-api-versions.sh run its classes) and those of its runtime
# dependencies that the broker's classpath lacks, fetched with Maven like
# the broker's own jars. Cached per pom under .cache/kafka/<version>/.
fetch_tools() {
  local version="$1" lib="$2" plugin pom dir work
  plugin="$(pin DEPENDENCY_PLUGIN)"
  [[ -n "$plugin" ]] || die "no DEPENDENCY_PLUGIN= line in scripts/kafka-local.sh"
  pom="<project><modelVersion>4.0.0</modelVersion><groupId>local.closesink</groupId>
<artifactId>kafka-docker-tools</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
<version>$version</version></dependency></dependencies></project>"
  dir="$ROOT/.cache/kafka/$version/tools"
  if [[ -f "$dir/.complete" && "$(cat "$dir/.pom.xml" 2>/dev/null)" == "$pom" ]]; then
    echo "$dir"
    return
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once, to fetch kafka-tools $version)"
  work="$(mktemp -d "$ROOT/.cache/kafka/$version/tools-fetch.XXXXXX")"
  printf '%s\n' "$pom" >"$work/pom.xml"
  say "fetching kafka-tools $version with Maven (first run only)"
  mvn -q -B -f "$work/pom.xml" "$plugin:copy-dependencies" -DincludeScope=runtime \
    -DoutputDirectory="$work/all" </dev/null >"$work/mvn.log" 2>&1 ||
    { tail -n 30 "$work/mvn.log" >&2; die "Maven could not fetch kafka-tools $version"; }
  mkdir -p "$work/lib"
  local jar artifact
  for jar in "$work"/all/*.jar; do
    # Keep only artifacts the broker lacks (by name without version), so no
    # jar is on the classpath twice in two versions.
    artifact="$(basename "$jar" | sed 's/-[0-9].*//')"
    compgen -G "$lib/$artifact-[0-9]*.jar" >/dev/null || cp "$jar" "$work/lib/"
  done
  printf '%s\n' "$pom" >"$work/lib/.pom.xml"
  touch "$work/lib/.complete"
  rm -rf "$dir"
  mv "$work/lib" "$dir"
  rm -rf "$work"
  echo "$dir"
}

# mirror prints the Debian mirror this machine's apt uses (the first URIs:
# of its deb822 sources, else the first deb line of sources.list).
mirror() {
  local m
  m="$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $1; exit}')"
  if [[ -z "$m" ]]; then
    m="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)"
  fi
  [[ -n "$m" ]] || die "no Debian mirror found in /etc/apt/sources.list.d/*.sources or sources.list"
  echo "$m"
}

base_tag() {
  # The mirror is part of the hash (a different snapshot may give other
  # package versions) but never appears in a name or label as such.
  local h
  h="$(printf '%s\n' "$SUITE" "$BASE_PACKAGES" "$BASE_RECIPE" "$(mirror)" | hash_stdin)"
  echo "$BASE_REPO:$SUITE-$h"
}

cmd_base() {
  if [[ -n "${BASE_IMAGE:-}" ]]; then
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "BASE_IMAGE=$BASE_IMAGE is not a local image"
    echo "$BASE_IMAGE"
    return
  fi
  local tag
  tag="$(base_tag)"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    say "base image $tag: cached"
    echo "$tag"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install -y debootstrap)"
  local start=$SECONDS rootfs
  mkdir -p "$CACHE"
  rootfs="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: the path is fixed
  trap "rm -rf '$rootfs'" EXIT
  say "building base image $tag: debootstrap $SUITE + $BASE_PACKAGES (about a minute)"
  if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$(mirror)" \
    >"$CACHE/debootstrap.log" 2>&1; then
    tail -n 30 "$CACHE/debootstrap.log" >&2
    die "debootstrap failed (full log: $CACHE/debootstrap.log)"
  fi
  # Smaller image, nothing that a broker needs.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$tag" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  say "base image $tag built in $((SECONDS - start))s"
  echo "$tag"
}

cmd_kafka() {
  local base version lib tools ctx hash
  base="$(cmd_base)"
  version="$(kafka_version)"
  [[ -n "$version" ]] || die "no KAFKA_VERSION= line in scripts/kafka-local.sh"
  # The jars: exactly the classpath scripts/kafka-local.sh runs (same pins,
  # same Maven fetch, same cache under .cache/kafka/).
  lib="$("$ROOT/scripts/kafka-local.sh" fetch)"
  [[ -f "$lib/.pom.xml" ]] || die "kafka-local.sh fetch gave $lib without its .pom.xml"
  tools="$(fetch_tools "$version" "$lib")"
  hash="$(
    {
      docker image inspect --format '{{.Id}}' "$base"
      cat "$lib/.pom.xml" "$tools/.pom.xml"
      (cd "$ROOT/deploy/docker/kafka" && find . -type f | LC_ALL=C sort | xargs sha256sum)
    } | hash_stdin
  )"
  if [[ "$(label_of "$KAFKA_IMAGE")" == "$hash" ]]; then
    say "kafka image $KAFKA_IMAGE (Kafka $version): cached"
    echo "$KAFKA_IMAGE"
    return
  fi
  local start=$SECONDS
  ctx="$CACHE/kafka-context"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp -a "$ROOT/deploy/docker/kafka/." "$ctx/"
  # Hard links when the cache is on the same file system: no 100 MB copy.
  cp -al "$lib" "$ctx/libs" 2>/dev/null || cp -a "$lib" "$ctx/libs"
  cp -al "$tools"/*.jar "$ctx/libs/" 2>/dev/null || cp -a "$tools"/*.jar "$ctx/libs/"
  rm -f "$ctx/libs/.pom.xml" "$ctx/libs/.complete"
  say "building kafka image $KAFKA_IMAGE (Kafka $version) on $base"
  docker_build --build-arg BASE_IMAGE="$base" --build-arg KAFKA_VERSION="$version" \
    --label "$LABEL=$hash" -t "$KAFKA_IMAGE" "$ctx"
  rm -rf "$ctx"
  say "kafka image $KAFKA_IMAGE built in $((SECONDS - start))s"
  echo "$KAFKA_IMAGE"
}

cmd_closesink() {
  local start=$SECONDS ctx
  make -C "$ROOT" --no-print-directory build >&2
  ctx="$CACHE/closesink-context"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp "$ROOT/bin/closesink" "$ctx/closesink"
  # The CA bundle lets the image reach the real Close API over HTTPS.
  local ca
  for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    [[ -f "$ca" ]] && break
  done
  [[ -f "$ca" ]] || die "no CA bundle on this machine (apt-get install -y ca-certificates)"
  cp "$ca" "$ctx/ca-certificates.crt"
  docker_build -f "$ROOT/deploy/docker/closesink.Dockerfile" -t "$CLOSESINK_IMAGE" "$ctx"
  rm -rf "$ctx"
  say "closesink image $CLOSESINK_IMAGE built in $((SECONDS - start))s"
  echo "$CLOSESINK_IMAGE"
}

cmd_env() {
  echo "KAFKATEST_KAFKA_IMAGE=$KAFKA_IMAGE"
  echo "CLOSESINK_KAFKA_IMAGE=$KAFKA_IMAGE"
  echo "CLOSESINK_IMAGE=$CLOSESINK_IMAGE"
}

case "${1:-}" in
base) cmd_base ;;
kafka) cmd_kafka ;;
closesink) cmd_closesink ;;
all)
  cmd_kafka >/dev/null
  cmd_closesink >/dev/null
  cmd_env
  ;;
env) cmd_env ;;
*)
  echo "usage: $0 base|kafka|closesink|all|env" >&2
  exit 64
  ;;
esac
