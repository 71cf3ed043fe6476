# netbird-watchdog image: a build stage with the toolchain better-sqlite3's native module needs, and a
# slim runtime with only dist/, the production node_modules, config/ and package.json.
#
#   docker build -t netbird-watchdog .                     # operators: public node images
#   scripts/build-image.sh                                 # offline: makes local stand-ins first
#
# The image runs as the non-root user node (1000:1000), works with a read-only root filesystem (it
# writes only to /var/lib/netbird-watchdog and a tmpfs on /tmp), and its HEALTHCHECK uses node itself.
#
# Node 26, the Active LTS line since October 2026 (security fixes until April 2029): the whole test
# suite passes on it (CI runs it on .node-version's exact 26.x), and better-sqlite3 12.x supports
# Node 20 to 26. Node 20 reached end of life in April 2026; Node 24 (maintenance LTS until April 2028)
# is the fallback should a 26.x release break the suite. Keep NODE_MAJOR equal to .node-version's
# major (scripts/build-image.sh refuses to build otherwise). Debian 12 (bookworm) variants: the same
# Debian as the offline stand-ins the image is tested on.
ARG NODE_MAJOR=26

# node:26-bookworm (not -slim) already carries python3, make and g++ (it is built on
# buildpack-deps:bookworm), which node-gyp needs when better-sqlite3 has no prebuilt binary to fetch.
FROM node:${NODE_MAJOR}-bookworm AS build
# A no-op on node:26-bookworm; installs the toolchain on a base without it (e.g. a -slim one).
RUN missing=; for tool in python3 make g++; do command -v "$tool" >/dev/null || missing=1; done; \
    if [ -n "$missing" ]; then \
      apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
# Dependencies first: this layer stays cached until package.json or the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# Compile, drop dev dependencies, then keep only the compiled .node files of native addons (their
# C/C++ sources and object files are build inputs, about 40 MB for better-sqlite3 alone).
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && for gyp in $(find node_modules -name binding.gyp); do \
      addon=$(dirname "$gyp"); \
      rm -rf "$addon/deps" "$addon/src"; \
      if [ -d "$addon/build" ]; then \
        find "$addon/build" -type f ! -name '*.node' -delete; \
        find "$addon/build" -depth -type d -empty -delete; \
      fi; \
    done \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()" \
 && mkdir -p /state/backups \
 && chmod 0700 /state/backups

FROM node:${NODE_MAJOR}-bookworm-slim AS runtime
# The image's labels' values (set by scripts/build-image.sh), declared here and used last.
ARG NODE_MAJOR
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
ENV NODE_ENV=production
# V8 grows its young generation with the allocation rate (to 64 MB on Node 26, seen with
# v8.getHeapSpaceStatistics(); 32 MB on Node 20), and an idle process keeps what it grew to resident
# until V8's memory reducer runs (about 100 s after start in our runs). Semi-spaces of at
# most 1 MB fit a sidecar; measured on Node 26 (bench/footprint.ts, BENCHMARKS.md, "Memory"): 4 MB
# already took the idle daemon from 104 to 95 MB; 1 MB keeps it near its settled size from the start,
# lowers the flood's peak again (106-111 to 104 MB), with no more CPU under 1,000 lines/s and the same
# `scan` throughput. Override with -e NODE_OPTIONS=.
ENV NODE_OPTIONS=--max-semi-space-size=1
WORKDIR /app
# What changes least first: every step after a changed one is built again, and on Docker's vfs storage
# driver each step copies the whole file system. A change to src/ rebuilds only dist/ and the labels.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY config ./config
COPY scripts/healthcheck.mjs scripts/grant-idp-access.mjs ./
# The watchdog's own state (backups by default in the shipped compose files), owned by the runtime user;
# the backups directory is 0700: backups hold client secrets.
COPY --from=build --chown=1000:1000 /state /var/lib/netbird-watchdog
VOLUME ["/var/lib/netbird-watchdog"]
USER 1000:1000
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["run"]
COPY --from=build /src/dist ./dist
# Last, so a new revision only changes the image's metadata, never a cached layer.
LABEL org.opencontainers.image.title="netbird-watchdog" \
      org.opencontainers.image.description="Sidecar that keeps a self-hosted NetBird control plane alive: detects embedded-IdP failures, repairs idp.db with verified backups, exports Prometheus metrics." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/node:${NODE_MAJOR}-bookworm-slim"
