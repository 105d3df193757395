# Larder: the `larder` binary (CLI and `larder serve`) on Debian 12 (bookworm).
#
#   docker compose build            # or: docker build -t larder .
#
# The feature definitions in features/ are compiled into the binary: after changing them,
# rebuild the image, then run `larder apply` with it. See docs/DEPLOYMENT.md. (The image has
# no features/ folder, so its commands have no sources to compare the definitions with.)
#
# The Swift version must be at least the swift-tools-version of every pinned dependency
# (6.2 for Hummingbird, swift-log, swift-metrics and others at the versions in
# Package.resolved); override with --build-arg SWIFT_VERSION=6.x.
ARG SWIFT_VERSION=6.3

# ---- build ----------------------------------------------------------------------------------
FROM swift:${SWIFT_VERSION}-bookworm AS build

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends libsqlite3-dev libhiredis-dev libzstd-dev libsnappy-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Dependencies first, so this layer is rebuilt only when the manifest or the pins change.
# (Package.resolve[d]: copied when present, without failing when it is not.)
COPY Package.swift Package.resolve[d] ./
RUN swift package resolve

# Then the sources. Tests/ is needed as well: Package.swift declares the test targets, and
# SwiftPM checks every target's directory even when it builds a single product. Plugins/
# holds the build step that embeds features/ (EmbedSources).
COPY Sources ./Sources
COPY Plugins ./Plugins
COPY features ./features
COPY schemas ./schemas
COPY Tests ./Tests

RUN swift build -c release --product larder \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/larder" /staging/larder

# ---- runtime --------------------------------------------------------------------------------
# The slim image has the Swift runtime libraries (/usr/lib/swift/linux) and nothing else of
# the toolchain.
FROM swift:${SWIFT_VERSION}-bookworm-slim

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends libsqlite3-0 libhiredis0.14 libzstd1 libsnappy1v5 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --user-group --uid 10001 --home-dir /srv/larder --no-create-home \
        --shell /usr/sbin/nologin larder

COPY --from=build /staging/larder /usr/local/bin/larder

WORKDIR /srv/larder
COPY deploy/larder.yaml /srv/larder/larder.yaml
# With offline.path, the offline store (SQLite file, its -wal and -shm) lives in data/, relative
# to larder.yaml; the shipped larder.yaml uses PostgreSQL (offline.url) instead.
# Created here and owned by larder, so a new named volume mounted on it is writable.
RUN mkdir -p /srv/larder/data && chown larder:larder /srv/larder/data
VOLUME ["/srv/larder/data"]

USER larder:larder
EXPOSE 6566
# `larder serve` stops gracefully on SIGTERM (docker stop) and SIGINT.
ENTRYPOINT ["larder"]
CMD ["serve", "--host", "0.0.0.0"]
