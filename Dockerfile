# syntax=docker/dockerfile:1
# hookroute container image. See docs/operations.md ("Container image").
#
#   docker build -t hookroute .
#   docker run -d --name hookroute --stop-timeout 30 \
#       -p 8080:8080 -p 127.0.0.1:9090:9090 \
#       -v hookroute-data:/data -v /srv/hookroute/rules:/etc/hookroute:ro \
#       --env-file /srv/hookroute/env hookroute

# ---- build ----------------------------------------------------------------------------------------
# Cargo.toml needs Rust >= 1.94 (edition 2024); rust:1-bookworm is the newest stable release.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin hookroute \
 && install -m 0755 target/release/hookroute /usr/local/bin/hookroute

# ---- runtime --------------------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: outgoing HTTPS (Slack, email APIs, PostgreSQL over TLS). SQLite is compiled into
# hookroute; the sqlite3 shell is there for online backups (`docker exec … sqlite3 … "VACUUM INTO …"`).
# Unpinned on purpose: each build takes bookworm's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates sqlite3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hookroute \
 && useradd --system --uid 10001 --gid hookroute --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin hookroute \
 && mkdir -p /data /etc/hookroute \
 && chown hookroute:hookroute /data
COPY --from=build /usr/local/bin/hookroute /usr/local/bin/hookroute

# The rules file is not baked in: mount the directory that holds it at /etc/hookroute (a directory,
# not the single file, so that edits saved by rename and ConfigMap updates are seen by hot reload).
# The admin listener (dashboard, /api, /metrics, probes) binds every interface inside the
# container: publish it only on loopback or a private network, and set HOOKROUTE_ADMIN_TOKEN_FILE
# (or HOOKROUTE_ADMIN_TOKEN); without a token hookroute refuses to start on 0.0.0.0 unless
# HOOKROUTE_ADMIN_ALLOW_NO_TOKEN=true.
ENV HOOKROUTE_RULES=/etc/hookroute/rules.yaml \
    HOOKROUTE_LISTEN=0.0.0.0:8080 \
    HOOKROUTE_ADMIN_LISTEN=0.0.0.0:9090 \
    HOOKROUTE_STORE=sqlite:///data/hookroute.db \
    HOOKROUTE_LOG=info \
    HOOKROUTE_LOG_FORMAT=json \
    NO_COLOR=1

VOLUME ["/data"]
EXPOSE 8080 9090
USER 10001:10001
WORKDIR /data

# No HEALTHCHECK: this image has no HTTP client (no curl or wget, and hookroute has no subcommand that
# GETs a URL). Probe from outside instead: Kubernetes probes or the load balancer's health check on
# /healthz and /readyz. For plain Docker, add curl to the apt-get line above and:
#   HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:9090/readyz || exit 1

# SIGTERM: stop accepting, answer requests in flight, give sends --grace (10 s) to finish, exit 0.
# Docker's default stop timeout is also 10 s: run with --stop-timeout 30 (compose: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hookroute"]
CMD ["serve"]
