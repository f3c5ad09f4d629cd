# twinpipe services: tp-ingest, tp-projector, tp-query, tp-migrate, tp-rollup, tp-registry,
# tp-policy, tp-forward; the tools tp-replay and tp-loadgen (the simulated fleet).
#
#   docker build -t twinpipe:latest .
#   docker-compose up -d            (see docker-compose.yml)
#   helm install ...                (deploy/helm/twinpipe/README.md)
#
# Configuration comes from TP_* environment variables only.
# No engine in CI: tests/deploy/check_dockerfile.py checks this file (ctest deploy_dockerfile).

# ---------------------------------------------------------------- build
FROM debian:12 AS build

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      librdkafka-dev libpq-dev \
      libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev \
      libzstd-dev libmicrohttpd-dev libsnappy-dev libssl-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# tests need Check and the broker: they run in CI, not in the image
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTP_BUILD_TESTS=OFF \
 && cmake --build build -j"$(nproc)" --target tp-ingest tp-projector tp-query tp-migrate tp-rollup tp-registry tp-replay \
      tp-loadgen tp-policy tp-forward

# ---------------------------------------------------------------- runtime
FROM debian:12-slim

# curl: the compose health checks call /healthz; protobuf-compiler + libprotobuf-dev:
# tp-registry compiles schemas with protoc (and its well-known google/protobuf/*.proto)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libpq5 libprotobuf-c1 libzstd1 protobuf-compiler libprotobuf-dev \
      libmicrohttpd12 libsnappy1v5 \
      libssl3 libcurl4 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 twinpipe \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin twinpipe

COPY --from=build /src/build/bin/tp-ingest /src/build/bin/tp-projector \
                  /src/build/bin/tp-query /src/build/bin/tp-migrate \
                  /src/build/bin/tp-rollup /src/build/bin/tp-registry /src/build/bin/tp-replay \
                  /src/build/bin/tp-loadgen /src/build/bin/tp-policy \
                  /src/build/bin/tp-forward /usr/local/bin/
COPY --from=build /src/migrations/*.sql /usr/share/twinpipe/migrations/

# fail the build, not the container, when a shared library is missing
RUN ! ldd /usr/local/bin/tp-* | grep -F 'not found'

ENV TP_MIGRATIONS_DIR=/usr/share/twinpipe/migrations
# tp-rollup's files (a volume in docker-compose.yml), writable by the service user
RUN mkdir -p /var/lib/twinpipe/lake && chown twinpipe /var/lib/twinpipe/lake
# the uid the Helm chart's securityContext runs as (runAsUser: 10001)
USER 10001:10001
EXPOSE 8080 8081 8082 8083 8084 1883
CMD ["tp-ingest"]
