# syntax=docker/dockerfile:1
# The odqa binary in a small image, run as a non-root user (uid 10001); deploy/k8s/ uses it.
#   docker build -t odqa:0.1.0 .
#   docker run --rm -v "$PWD/data:/data:ro" odqa:0.1.0 ask --index /data/index --model /data/model "질문?"
# The build needs crates.io (cargo fetches the locked dependencies); the image holds no model or
# index: mount them. For GPUs, build from an nvidia/cuda devel image with --features cuda.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin odqa \
    && strip target/release/odqa

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin odqa
COPY --from=build /src/target/release/odqa /usr/local/bin/odqa
USER 10001:10001
WORKDIR /work
EXPOSE 8080
ENTRYPOINT ["odqa"]
CMD ["--help"]
