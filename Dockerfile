# syntax=docker/dockerfile:1.7
#
# TaskFlow container image: every binary of the workspace in one slim runtime image.
#
#   docker build -t taskflow .
#   docker run --rm -p 8000:8000 -v taskflow-data:/data taskflow          # all-in-one, SQLite in /data
#   docker run --rm -e SERVICE=backend-api -e DATABASE_URL=… -e JWT_SECRET=… taskflow
#
# SERVICE picks the binary: taskflow (default), backend-api, websocket, recurring, audit, web or
# notification. docker-compose.yml and the Helm chart run the same image with different SERVICE
# values, so one build serves every deployment path.
#
# Stages:
#   planner  – reduces the source tree to a dependency "skeleton": every Cargo.toml, Cargo.lock and
#              a stub for every build target. It only changes when manifests or the set of targets
#              change, never when code changes.
#   builder  – compiles the dependencies against the skeleton (the expensive, cached layer), then the
#              real sources.
#   runtime  – debian:bookworm-slim (same glibc as the builder), a non-root user, the binaries, two
#              small scripts. No compiler, no package manager cache, no source.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# --------------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS planner
# bash with pipefail: a failing `find` in a pipeline must fail the build, not yield a partial skeleton.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY . .
# Keep manifests and the lock file as they are; replace each target's source by a stub that compiles:
# `fn main() {}` for binaries, benches, examples and tests (Cargo refuses a manifest whose declared targets
# have no file), an empty file for libraries. Build scripts are kept verbatim because they affect
# how dependencies are built.
RUN set -eu; \
    mkdir -p /skeleton; \
    cp Cargo.toml Cargo.lock /skeleton/; \
    find . -name Cargo.toml -not -path './target/*' -not -path './Cargo.toml' \
        -exec cp --parents {} /skeleton/ \; ; \
    find . -name build.rs -not -path './target/*' -exec cp --parents {} /skeleton/ \; ; \
    find . -type f -path '*/src/lib.rs' -not -path './target/*' | while read -r f; do \
        mkdir -p "/skeleton/$(dirname "$f")"; : > "/skeleton/$f"; \
    done; \
    find . -type f -not -path './target/*' \( -path '*/src/main.rs' -o -path '*/src/bin/*.rs' \
        -o -path '*/benches/*.rs' -o -path '*/examples/*.rs' -o -path '*/tests/*.rs' \) \
        | while read -r f; do \
        mkdir -p "/skeleton/$(dirname "$f")"; echo 'fn main() {}' > "/skeleton/$f"; \
    done

# --------------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
# The binaries copied into the runtime image. Add a service here when its crate gains a [[bin]]
# (tests/manifests/check_consistency.py fails CI when a workspace binary is missing from this list).
ARG BINS="taskflow backend-api websocket recurring audit notification web"
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
WORKDIR /src

# 1. Dependencies only. This layer is rebuilt when Cargo.toml/Cargo.lock change, not on code edits.
#    The registry cache mount keeps downloaded crates across rebuilds of this layer.
COPY --from=planner /skeleton/ ./
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked --bins

# 2. The real sources. COPY keeps the files' original modification times, which can be older than
#    the stubs just compiled; touching them makes Cargo rebuild the workspace crates instead of
#    trusting the stub fingerprints.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    set -eu; \
    find . -name '*.rs' -not -path './target/*' -exec touch {} +; \
    cargo build --release --locked --bins; \
    mkdir -p /out; \
    for bin in ${BINS}; do install -m 0755 "target/release/${bin}" "/out/${bin}"; done

# --------------------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG BINS="taskflow backend-api websocket recurring audit notification web"
ARG APP_UID=10001

# A fixed numeric UID/GID so Kubernetes can enforce runAsNonRoot/runAsUser (the Helm chart uses the
# same number). /data is the all-in-one binary's data directory (SQLite file, generated JWT secret).
RUN groupadd --system --gid "${APP_UID}" taskflow \
    && useradd --system --uid "${APP_UID}" --gid taskflow --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin taskflow \
    && mkdir -p /data \
    && chown taskflow:taskflow /data

# CA roots for outgoing TLS (JWKS_URL, SMTP_URL, managed PostgreSQL): rustls reads the system bundle.
# Taken from the builder image rather than installed with apt, so the runtime stage runs no package
# manager at all.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/ /usr/local/bin/
COPY --chmod=0755 docker/taskflow-service /usr/local/bin/taskflow-service

# HOST: the all-in-one binary binds 127.0.0.1 by default, unreachable from outside a container.
# PORT is left unset on purpose: each binary then uses its own default (8000 for taskflow and
# backend-api, 8001 websocket, 8002 notification, 8003 recurring, 8004 audit), and the health check
# knows them.
ENV SERVICE=taskflow \
    TASKFLOW_SERVICES="${BINS}" \
    HOST=0.0.0.0 \
    TASKFLOW_DATA_DIR=/data \
    LOG_FORMAT=json

USER ${APP_UID}:${APP_UID}
WORKDIR /data
EXPOSE 8000

# Liveness only (/health never touches dependencies): a database outage must not get containers
# restarted. Readiness (/ready) is for orchestrators that route traffic (Kubernetes probes).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/taskflow-service", "health"]

ENTRYPOINT ["/usr/local/bin/taskflow-service", "run"]
