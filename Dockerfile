# Switchboard: one binary on a slim base, run as a non-root user.
#   docker build -t switchboard .
#   docker run -p 8080:8080 -v switchboard-data:/var/lib/switchboard switchboard
FROM rust:1-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin switchboard

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /var/lib/switchboard switchboard
COPY --from=build /src/target/release/switchboard /usr/local/bin/switchboard
USER switchboard
WORKDIR /var/lib/switchboard
# Serve on every interface of the container; cookies are Secure (put HTTPS in front).
ENV SWITCHBOARD_BIND=0.0.0.0:8080 \
    SWITCHBOARD_DATABASE_URL=sqlite:///var/lib/switchboard/switchboard.db \
    SWITCHBOARD_LOG_FORMAT=json
VOLUME /var/lib/switchboard
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
# SIGTERM lets requests in flight finish (30 s at most)
STOPSIGNAL SIGTERM
ENTRYPOINT ["switchboard"]
CMD ["serve"]
