# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run as a non-root user in a slim Debian image.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# jemalloc (the default allocator) is built from C with configure and make.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin baton \
 && cp target/release/baton /usr/local/bin/baton

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin baton
COPY --from=build /usr/local/bin/baton /usr/local/bin/baton
USER baton
ENV BATON_SERVER__LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/baton"]
CMD ["serve", "--config", "/etc/baton/config.toml"]
