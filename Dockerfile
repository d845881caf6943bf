# ptexec HTTP API in a container: multi-stage on debian:bookworm-slim.
#   make && podman build --format docker -t ptexec .   (or: docker build -t ptexec .)
#   podman run -p 8000:8000 ptexec  then: curl localhost:8000/ready
# `make` first fetches the Swagger UI into build/share/swagger-ui, which
# .dockerignore lets into the build context; the build stage reuses it (no
# npm in the image). --format docker keeps the HEALTHCHECK (OCI images drop
# it). The build stage has the -dev packages; the runtime stage only the
# shared libraries, runs as a non-root user and checks /ready.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config libinih-dev libcjson-dev libssl-dev libmicrohttpd-dev libsqlite3-dev \
      ca-certificates openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The Swagger UI comes from npm (swagger-ui-dist). When the build context
# already holds it (build/share/swagger-ui after a local `make`), npm is not needed.
RUN if [ ! -f build/share/swagger-ui/VERSION ]; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# Without the Swagger UI files the image still serves the API; GET /docs then says why.
RUN make -j"$(nproc)" all \
 && make install PREFIX=/usr/local DESTDIR=/out

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libinih1 libcjson1 libssl3 libmicrohttpd12 libsqlite3-0 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/ptexec --create-home \
      --shell /usr/sbin/nologin ptexec
COPY --from=build /out/usr/local/bin/ptexec /usr/local/bin/ptexec
COPY --from=build /out/usr/local/lib/ptexec /usr/local/lib/ptexec
COPY --from=build /out/usr/local/lib/libptexec.so.1 /usr/local/lib/libptexec.so.1
COPY --from=build /out/usr/local/share/ptexec/swagger-ui /usr/local/share/ptexec/swagger-ui
COPY --from=build /out/usr/local/etc/ptexec/brokers.ini /etc/ptexec/brokers.ini
# The journal lives on the volume; everything else in the image is read-only to ptexec.
RUN sed -i 's|^journal *=.*|journal    = /var/lib/ptexec/ptexec.db|' /etc/ptexec/brokers.ini
ENV PTEXEC_CONFIG=/etc/ptexec/brokers.ini \
    PTEXEC_LISTEN=0.0.0.0:8000
USER ptexec
WORKDIR /var/lib/ptexec
VOLUME ["/var/lib/ptexec"]
EXPOSE 8000
# /ready: healthy only while executions can run (journal usable, a broker loaded).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PTEXEC_LISTEN##*:}/ready" >/dev/null || exit 1
STOPSIGNAL SIGTERM
CMD ["ptexec", "serve"]
