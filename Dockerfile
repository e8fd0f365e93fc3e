# syntax=docker/dockerfile:1
# tidings in a container: the daemon as an unprivileged user, its state in a
# volume, its config in /etc/tidings.
#
#   docker build --build-arg TIDINGS_GIT_COMMIT="$(git rev-parse --short HEAD)" -t tidings .
#   docker run -d --name tidings --stop-timeout 45 \
#       -v tidings-state:/var/lib/tidings \
#       -v "$PWD/tidings.toml:/etc/tidings/tidings.toml:ro" tidings
#
# The build needs BuildKit (the default builder since Docker 23) for its cache
# mounts. See docs/running.md.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# .git is not sent (see .dockerignore): `tidings --version` names the commit
# given here, else "unknown".
ARG TIDINGS_GIT_COMMIT=unknown
# The registry and the target folder are cache mounts that outlive the build:
# the dependencies are downloaded and compiled once, and a change to tidings'
# own code rebuilds tidings only.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    TIDINGS_GIT_COMMIT="$TIDINGS_GIT_COMMIT" cargo build --release --locked --bin tidings \
    && install -m 0755 target/release/tidings /usr/local/bin/tidings

FROM debian:bookworm-slim
# The system's root certificates, which the HTTPS client (rustls) trusts;
# nothing else: no shell tools, no HTTP client.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid and gid, so that a volume's files keep their owner across
# images and a host folder can be given to it (chown 10001:10001).
RUN groupadd --system --gid 10001 tidings \
    && useradd --system --uid 10001 --gid tidings --no-create-home \
       --home-dir /var/lib/tidings --shell /usr/sbin/nologin tidings \
    && install -d -o tidings -g tidings -m 0750 /var/lib/tidings \
    && install -d -m 0755 /etc/tidings
COPY --from=builder /usr/local/bin/tidings /usr/local/bin/tidings
# The default config; mount your own over it.
COPY config/tidings.toml /etc/tidings/tidings.toml
# What systemd sets for StateDirectory= and ConfigurationDirectory=: the
# config's relative [state] dir and JSONL paths resolve under the volume
# (/var/lib/tidings/data, /var/lib/tidings/out/records.jsonl).
ENV STATE_DIRECTORY=/var/lib/tidings \
    CONFIGURATION_DIRECTORY=/etc/tidings
VOLUME /var/lib/tidings
WORKDIR /var/lib/tidings
USER 10001:10001
# SIGTERM drains within [pipeline] shutdown_grace_secs (30 s by default):
# give `docker stop` more than that (--stop-timeout 45; its default is 10 s).
STOPSIGNAL SIGTERM
# No HEALTHCHECK: the image has no HTTP client and tidings has no verb that
# asks a running daemon how it is. With [metrics] listen = "0.0.0.0:9464" in
# the config, let the orchestrator probe GET /healthz (503 while a sink is
# down or the state store does not answer).
ENTRYPOINT ["tidings"]
CMD ["run", "--config", "/etc/tidings/tidings.toml"]
