# syntax=docker/dockerfile:1
# mitosis: the self-replicating HTTP front end.
#
#   docker build -t mitosis:latest .
#   docker stack deploy -c stack.yml app
#
# Needs a registry to pull the base images. The e2e suite (e2e/) builds its
# own FROM-scratch image around a binary built on the host instead.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static binary: the final image has no libc.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/mitosis .

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/mitosis /mitosis
# 8080: the app (public). 9090: admin (/metrics, /healthz, /readyz,
# /_mitosis/state), reached by siblings on the overlay network only: never
# publish it.
EXPOSE 8080 9090
# Runs as nonroot (65532). The web tier needs no Docker socket: it scales
# through `mitosis guard`, the one service that mounts the socket (as root
# or with the socket's group), see stack.yml.
USER nonroot:nonroot
# No shell in the image: the binary checks itself (GET /healthz on the
# admin port). Swarm adds a task to DNS and the load balancer only once it
# is healthy.
HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 CMD ["/mitosis", "healthcheck"]
ENTRYPOINT ["/mitosis"]
