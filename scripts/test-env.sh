#!/usr/bin/env bash
# Sets up what the tests need on a fresh machine (CONTRIBUTING.md, "The test environment"), idempotently and bounded in
# time: Debian packages (docker.io, busybox-static, prometheus for promtool, sqlite3, strace), a running Docker
# engine (started here with no bridge, no iptables, vfs storage, if `docker info` does not answer),
# the tiny test images built by `docker import` (no registry is reachable), and no leftovers of
# earlier runs (objects labelled netbird-watchdog.test=1).
#
# The node test image carries the node that is first on PATH, the one the suite will run on: tests
# mount the repository with its node_modules into containers of that image, and better-sqlite3's
# native module only loads under the node major it was built for. Its tag names that major
# (netbird-watchdog-test/node:<major>, as test/helpers/docker.ts expects), and it is rebuilt when the
# node on PATH is another version. CI runs this under the shipped node:
#
#   bash scripts/test-env.sh                                  # as root; the machine's node
#   scripts/shipped-node.sh exec bash scripts/test-env.sh     # the node the image ships (.ci/run)
#
# Environment: TEST_ENV_DEADLINE (seconds to wait for the engine, default 60);
# TEST_ENV_KEEP_LEFTOVERS=1 skips removing labelled test containers and volumes (only for a machine
# whose engine other test runs are using at that moment; CI always removes them).
set -euo pipefail

node_bin=$(readlink -f "$(command -v node)")
node_version=$("$node_bin" -p process.versions.node)
busybox_image=netbird-watchdog-test/busybox:1
node_image=netbird-watchdog-test/node:${node_version%%.*}
node_label=netbird-watchdog.test.node
test_label=netbird-watchdog.test=1
deadline_s=${TEST_ENV_DEADLINE:-60}

log() { printf 'test-env: %s\n' "$*" >&2; }

need_packages=()
command -v dockerd >/dev/null 2>&1 || need_packages+=(docker.io)
command -v docker >/dev/null 2>&1 || need_packages+=(docker.io)
[ -x /bin/busybox ] || need_packages+=(busybox-static)
command -v promtool >/dev/null 2>&1 || need_packages+=(prometheus)
command -v sqlite3 >/dev/null 2>&1 || need_packages+=(sqlite3)
# test/cli/durability.test.ts watches the CLI's fsync calls with strace.
command -v strace >/dev/null 2>&1 || need_packages+=(strace)
# The compose tests validate and bring up the shipped compose files.
{ docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; } || need_packages+=(docker-compose)
if [ ${#need_packages[@]} -gt 0 ]; then
  log "installing ${need_packages[*]}"
  timeout 300 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends \
    "${need_packages[@]}" >/dev/null
fi

engine_up() { timeout 10 docker info >/dev/null 2>&1; }

if ! engine_up; then
  log "starting dockerd (log: /var/log/dockerd-test.log)"
  # The same flags the tests assume (CONTRIBUTING.md, "The test environment"): no docker0 bridge, no private addresses.
  nohup dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    --storage-driver=vfs >/var/log/dockerd-test.log 2>&1 &
  end=$((SECONDS + deadline_s))
  until engine_up; do
    if [ $SECONDS -ge $end ]; then
      log "dockerd did not answer within ${deadline_s}s; last log lines:"
      tail -n 20 /var/log/dockerd-test.log >&2 || true
      exit 1
    fi
    sleep 0.5
  done
fi
log "engine $(docker version --format '{{.Server.Version}}') answers"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# busybox: /bin/busybox plus the applets the tests call.
make_busybox_root() {
  local root=$1
  mkdir -p "$root/bin" "$root/etc" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in sh echo sleep cat printf head dd tr yes true false seq env ls date kill; do
    ln -sf busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$root/etc/passwd"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! image_exists "$busybox_image"; then
  log "building $busybox_image"
  make_busybox_root "$work/busybox"
  tar -C "$work/busybox" -c . | timeout 120 docker import \
    --change 'LABEL netbird-watchdog.test.image=1' - "$busybox_image" >/dev/null
fi

if [[ $(docker image inspect -f "{{index .Config.Labels \"$node_label\"}}" "$node_image" 2>/dev/null) != "$node_version" ]]; then
  log "building $node_image (node $node_version from $node_bin)"
  root="$work/node"
  make_busybox_root "$root"
  mkdir -p "$root/usr/bin"
  cp "$node_bin" "$root/usr/bin/node"
  # Every shared library node links (and the dynamic loader), at the same paths.
  ldd "$node_bin" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  tar -C "$root" -c . | timeout 300 docker import \
    --change 'LABEL netbird-watchdog.test.image=1' --change "LABEL $node_label=$node_version" \
    --change 'ENV PATH=/usr/bin:/bin' - "$node_image" >/dev/null
fi

# Leftovers of earlier runs (a killed test cannot clean up after itself).
if [[ ${TEST_ENV_KEEP_LEFTOVERS:-} == 1 ]]; then
  log "TEST_ENV_KEEP_LEFTOVERS=1: labelled test containers and volumes left in place"
else
  leftovers=$(timeout 60 docker ps -aq --filter "label=$test_label")
  if [ -n "$leftovers" ]; then
    log "removing leftover test containers"
    # shellcheck disable=SC2086
    timeout 120 docker rm -f -v $leftovers >/dev/null
  fi
  volumes=$(timeout 60 docker volume ls -q --filter "label=$test_label")
  if [ -n "$volumes" ]; then
    # shellcheck disable=SC2086
    timeout 60 docker volume rm -f $volumes >/dev/null
  fi
fi
log "ready: $busybox_image, $node_image"

# PostgreSQL (the PostgreSQL IdP store's tests): Debian's server binaries. The tests start their own
# throw-away clusters (test/helpers/postgres.ts: initdb in a temporary directory, 127.0.0.1 and a socket
# directory, a random port), so no default cluster is created here. Clusters a killed test run left
# behind (their owner.pid names a process that is gone) are stopped and removed; a running one is not
# touched.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing postgresql (no default cluster)"
  mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/netbird-watchdog-tests.conf
  timeout 300 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends \
    postgresql >/dev/null
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
for root in "${TMPDIR:-/tmp}"/netbird-watchdog-pg-*; do
  [ -d "$root" ] || continue
  owner=$(cat "$root/owner.pid" 2>/dev/null || true)
  if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then continue; fi
  if [ -f "$root/data/postmaster.pid" ]; then
    log "stopping a leftover test cluster in $root"
    timeout 60 runuser -u "$(stat -c %U "$root/data")" -- "$pg_bin/pg_ctl" stop -D "$root/data" \
      -m immediate -w -s >/dev/null 2>&1 || true
  fi
  rm -rf "$root"
done
log "postgresql: $("$pg_bin/postgres" --version)"
