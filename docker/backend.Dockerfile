# syntax=docker/dockerfile:1
#
# Container image of the Recozik server (`recozik-web`).
#
# Build from the repository root (the build context is the whole workspace):
#
#   docker build -f docker/backend.Dockerfile -t recozik-web:local .
#
# Stages:
#   builder  Rust toolchain + FFmpeg/libpq development packages; compiles recozik-web.
#   seed     optional: prepares the SQLite databases at build time (see RECOZIK_SEED_AT_BUILD).
#   runtime  debian slim with only the shared libraries the binary needs; runs as a non-root user.
#
# docs/deploy-backend.md explains every option used here.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

############################################################################################
FROM ${RUST_IMAGE} AS builder

# What compiling needs: a C/C++ toolchain and CMake (Chromaprint is compiled from source and
# linked statically), libclang (bindgen), FFmpeg's development files (decoding) and libpq
# (the PostgreSQL client library used by diesel). SQLite is bundled in the binary.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config cmake clang libclang-dev \
        libavcodec-dev libavformat-dev libavutil-dev libswresample-dev \
        libpq-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Install exactly the toolchain pinned by rust-toolchain.toml (the base image may carry a later
# patch release), so that the image builds with the same compiler as CI.
COPY rust-toolchain.toml ./
RUN channel="$(sed -n 's/^channel *= *"\([^"]*\)".*/\1/p' rust-toolchain.toml)" \
 && rustup toolchain install "$channel" --profile minimal --component rustfmt,clippy \
 && rustc --version

COPY . .

# The cache mounts keep downloaded crates and compiled dependencies between builds; the binary
# is copied out of the cached target directory in the same step.
RUN --mount=type=cache,id=recozik-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=recozik-target,target=/src/target,sharing=locked \
    cargo build --release --locked --package recozik_api --bin recozik-web \
 && install -m 0755 target/release/recozik-web /usr/local/bin/recozik-web

############################################################################################
FROM builder AS seed

# Set RECOZIK_SEED_AT_BUILD=true to run `cargo xtask seed` (migrations, then seeding) while the
# image is built: the SQLite databases (auth.db, jobs.db) are created under /seed and copied
# into the image's /data, from where Docker copies them into a new, empty named volume.
# The server also migrates and seeds at every start, so this is optional; see
# "Seeding at image build" in docs/deploy-backend.md for when it helps and what it costs.
ARG RECOZIK_SEED_AT_BUILD=false

# The seeding secrets. Prefer a BuildKit secret, which leaves no trace in the image or its
# metadata:
#   docker build --build-arg RECOZIK_SEED_AT_BUILD=true \
#       --secret id=recozik_seed_env,src=./seed.env -f docker/backend.Dockerfile .
# where seed.env holds RECOZIK_WEB_* lines (RECOZIK_WEB_ADMIN_TOKEN=..., ...) in .env syntax:
# it is mounted as /src/.env for the seeding step only, where `cargo xtask seed` reads it.
# Only if you accept that they are recorded in the build cache, build logs and provenance
# attestations, you may pass them as build arguments instead (--build-arg RECOZIK_WEB_...=...).
# These arguments are read only when RECOZIK_SEED_AT_BUILD=true, and they never reach the
# runtime stage.
ARG RECOZIK_WEB_PRODUCTION_MODE
ARG RECOZIK_WEB_ADMIN_USERNAME
ARG RECOZIK_WEB_ADMIN_PASSWORD
ARG RECOZIK_WEB_ADMIN_TOKEN
ARG RECOZIK_WEB_READONLY_TOKEN
ARG RECOZIK_WEB_READONLY_QUOTA_ACOUSTID
ARG RECOZIK_WEB_READONLY_QUOTA_MUSICBRAINZ
ARG RECOZIK_WEB_READONLY_QUOTA_AUDD_STANDARD
ARG RECOZIK_WEB_READONLY_QUOTA_AUDD_ENTERPRISE
ARG RECOZIK_WEB_AUDD_TOKEN
ARG RECOZIK_WEB_MUSICBRAINZ_ENABLED

# Build arguments that were not given are empty strings: they are unset before seeding so that
# the secret file or the defaults apply (variables win over the file).
RUN --mount=type=cache,id=recozik-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=recozik-target,target=/src/target,sharing=locked \
    --mount=type=secret,id=recozik_seed_env,target=/src/.env,required=false \
    set -eu; \
    mkdir -p /seed; \
    if [ "$RECOZIK_SEED_AT_BUILD" != "true" ]; then exit 0; fi; \
    for name in $(env | sed -n 's/^\(RECOZIK_WEB_[A-Z0-9_]*\)=$/\1/p'); do unset "$name"; done; \
    export RECOZIK_WEB_BASE_MEDIA_ROOT=/seed; \
    cargo xtask seed; \
    ls -l /seed

############################################################################################
FROM ${RUNTIME_IMAGE} AS runtime

# Only the shared libraries recozik-web links (FFmpeg, libpq, the C++ runtime of Chromaprint)
# and the CA certificates for HTTPS calls to AcoustID, AudD and MusicBrainz.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates \
        libavcodec59 libavformat59 libavutil57 libswresample4 \
        libpq5 libstdc++6 \
 && rm -rf /var/lib/apt/lists/*

# An unprivileged account with a fixed id (useful for host-side ownership of bind mounts).
ARG RECOZIK_UID=10001
ARG RECOZIK_GID=10001
RUN groupadd --system --gid "${RECOZIK_GID}" recozik \
 && useradd --system --uid "${RECOZIK_UID}" --gid recozik \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin recozik \
 && mkdir -p /data/uploads /app \
 && chown -R recozik:recozik /data

COPY --from=builder /usr/local/bin/recozik-web /usr/local/bin/recozik-web
# Empty unless RECOZIK_SEED_AT_BUILD=true.
COPY --from=seed --chown=recozik:recozik /seed/ /data/

# Settings for a container: listen on every interface, keep all state in the /data volume.
# Any other RECOZIK_WEB_* variable can be given at run time (docs/configuration.md).
ENV RECOZIK_WEB_HOST=0.0.0.0 \
    RECOZIK_WEB_PORT=8000 \
    RECOZIK_WEB_BASE_MEDIA_ROOT=/data \
    RECOZIK_WEB_UPLOAD_SUBDIR=uploads

# The working directory is where the server looks for an optional `.env` file.
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8000
USER recozik:recozik

# `recozik-web healthcheck` requests GET /health on the configured host and port and exits 0
# on a 200 answer, so the image needs no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["recozik-web", "healthcheck"]

ENTRYPOINT ["recozik-web"]
CMD ["serve"]
