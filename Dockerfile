# syntax=docker/dockerfile:1.7
#
# One build for every Slipway service image. Each long-running service is a target:
#
#   docker build --target vote -t slipway/vote .
#
# Targets: vote worker result seed sums-api sums-client shop-users shop-products
# shop-orders. docker-compose.yml builds them all; BuildKit runs the shared builder
# stage once for all of them. The shop's one-shot migrate/seed jobs run the shop images
# with a command override (`shop-users migrate`), as the ECS one-off tasks do.
#
# The binaries are static musl executables (all TLS is rustls), so the final images are
# plain Alpine plus one binary, run as an unprivileged user, with a HEALTHCHECK that asks
# the binary itself, so no curl is shipped: `<binary> --probe` is liveness (GETs its own
# /health, never fails because Postgres or Redis is down); `--probe ready` asks /ready.
# The images set CMD, not ENTRYPOINT, so that an ECS command override such as
# ["/usr/local/bin/shop-orders", "migrate"] replaces the whole command line.

# ---------------------------------------------------------------------------- build
# Base images are pinned by tag and digest (the tag says what it is, the digest makes the
# build reproducible and immune to a re-pushed tag). To bump one: `docker buildx
# imagetools inspect rust:1.95-alpine3.23` (or the new tag) prints the index `Digest:`;
# put tag and digest on the FROM line (and the runtime's in services/debug/Dockerfile and
# the base.name labels), then run ci/test.sh. The digests here were taken from public
# build files and build logs resolving the same tags (at least two independent sources
# each), not pulled on this machine: the first `docker build` verifies them.
FROM rust:1.95-alpine3.23@sha256:606fd313a0f49743ee2a7bd49a0914bab7deedb12791f3a846a34a4711db7ed2 AS chef
# musl-dev provides the C runtime objects that ring's C code and static linking need.
# Its version comes from the pinned Alpine branch: exact apk pins break whenever Alpine
# ships a security fix, because its mirrors keep only the newest revision.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev \
    && cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src
# Small, stripped release binaries; the same settings for `cook` and `build`, or the
# cached dependency layer would not be reused.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_PROFILE_RELEASE_LTO=thin \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    CARGO_TERM_COLOR=never

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG PACKAGES="vote worker result seed sums-api sums-client shop-users shop-products shop-orders"
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only: this layer is rebuilt when Cargo.toml/Cargo.lock change, not when
# the services' sources do.
RUN set --; for package in $PACKAGES; do set -- "$@" -p "$package"; done; \
    cargo chef cook --release --locked --recipe-path recipe.json "$@"
COPY . .
RUN set --; for package in $PACKAGES; do set -- "$@" -p "$package"; done; \
    cargo build --release --locked "$@" \
    && mkdir /out \
    && for package in $PACKAGES; do cp "target/release/$package" /out/; done

# -------------------------------------------------------------------------- runtime
FROM alpine:3.23.3@sha256:25109184c71bdad752c8312a8623239686a9a2071e8825f20acb8f2198c3f659 AS runtime
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.vendor="Slipway" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/alpine:3.23.3"
RUN addgroup -S -g 10001 slipway \
    && adduser -S -D -H -u 10001 -G slipway -s /sbin/nologin slipway
# Services log JSON lines unless told otherwise (a TTY would switch them to text).
ENV LOG_FORMAT=json
# Numeric, so that Kubernetes/ECS `runAsNonRoot`-style checks can verify it.
USER 10001:10001

# ------------------------------------------------------------------- voting stack
FROM runtime AS vote
LABEL org.opencontainers.image.title="slipway-vote" \
      org.opencontainers.image.description="Voting web app: casts votes onto the Redis queue"
COPY --from=builder /out/vote /usr/local/bin/vote
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/vote", "--probe"]
CMD ["/usr/local/bin/vote"]

FROM runtime AS worker
LABEL org.opencontainers.image.title="slipway-worker" \
      org.opencontainers.image.description="Moves votes from Redis into Postgres, none lost"
COPY --from=builder /out/worker /usr/local/bin/worker
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/worker", "--probe"]
CMD ["/usr/local/bin/worker"]

FROM runtime AS result
LABEL org.opencontainers.image.title="slipway-result" \
      org.opencontainers.image.description="Live voting results over socket.io"
COPY --from=builder /out/result /usr/local/bin/result
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/result", "--probe"]
CMD ["/usr/local/bin/result"]

# A one-off job: no health check, it exits when the votes are counted.
FROM runtime AS seed
LABEL org.opencontainers.image.title="slipway-seed" \
      org.opencontainers.image.description="Casts demo votes through the vote service and waits until they are counted"
COPY --from=builder /out/seed /usr/local/bin/seed
CMD ["/usr/local/bin/seed"]

# --------------------------------------------------------------------- sums stack
FROM runtime AS sums-api
LABEL org.opencontainers.image.title="slipway-sums-api" \
      org.opencontainers.image.description="Sums API (private): computes sums, keeps the last one in Redis"
COPY --from=builder /out/sums-api /usr/local/bin/sums-api
EXPOSE 4567
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/sums-api", "--probe"]
CMD ["/usr/local/bin/sums-api"]

FROM runtime AS sums-client
LABEL org.opencontainers.image.title="slipway-sums-client" \
      org.opencontainers.image.description="Sums client (public): asks the sums API"
COPY --from=builder /out/sums-client /usr/local/bin/sums-client
EXPOSE 4567
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/sums-client", "--probe"]
CMD ["/usr/local/bin/sums-client"]

# --------------------------------------------------------------------- shop stack
FROM runtime AS shop-users
LABEL org.opencontainers.image.title="slipway-shop-users" \
      org.opencontainers.image.description="Shop users API"
COPY --from=builder /out/shop-users /usr/local/bin/shop-users
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/shop-users", "--probe"]
CMD ["/usr/local/bin/shop-users"]

FROM runtime AS shop-products
LABEL org.opencontainers.image.title="slipway-shop-products" \
      org.opencontainers.image.description="Shop products API (Postgres, cached in Redis)"
COPY --from=builder /out/shop-products /usr/local/bin/shop-products
EXPOSE 3002
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/shop-products", "--probe"]
CMD ["/usr/local/bin/shop-products"]

FROM runtime AS shop-orders
LABEL org.opencontainers.image.title="slipway-shop-orders" \
      org.opencontainers.image.description="Shop orders API: checks users and products, decrements stock"
COPY --from=builder /out/shop-orders /usr/local/bin/shop-orders
EXPOSE 3003
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/shop-orders", "--probe"]
CMD ["/usr/local/bin/shop-orders"]
