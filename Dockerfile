# xinshi in a container (docker-compose.yml runs three of them as a cluster).
#
#   docker build -t xinshi .                          # with the FoundationDB engine
#   docker build -t xinshi --build-arg FEATURES= .    # without it (embedded and PostgreSQL)
#
# The build stage compiles the release binary; with the `fdb` feature it takes FoundationDB's
# client library (libfdb_c) from the official FoundationDB image, and libclang for bindgen.
# The runtime stage is a slim Debian with the binary, the default configuration and, for
# `fdb`, libfdb_c.

ARG FDB_VERSION=7.3.63

FROM foundationdb/foundationdb:${FDB_VERSION} AS fdb

FROM rust:1-bookworm AS build
ARG FEATURES=fdb
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev && rm -rf /var/lib/apt/lists/*
COPY --from=fdb /usr/lib/libfdb_c.so /usr/lib/libfdb_c.so
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin xinshi --features "${FEATURES}"

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/xinshi xinshi && mkdir -p /var/lib/xinshi /etc/foundationdb \
    && chown xinshi /var/lib/xinshi /etc/foundationdb
COPY --from=fdb /usr/lib/libfdb_c.so /usr/lib/libfdb_c.so
COPY --from=build /src/target/release/xinshi /usr/local/bin/xinshi
COPY config/xinshi.toml /etc/xinshi/xinshi.toml
USER xinshi
WORKDIR /var/lib/xinshi
ENV XINSHI_SERVER_LISTEN=0.0.0.0:8080 XINSHI_STORAGE_DATA_DIR=/var/lib/xinshi/data
# 8080: clients (WebSocket, REST, router); 7000: the other cluster nodes.
EXPOSE 8080 7000
ENTRYPOINT ["xinshi"]
CMD ["serve", "--config", "/etc/xinshi/xinshi.toml"]
