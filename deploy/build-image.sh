#!/bin/sh
# Builds a mitosis image without a registry: a static binary from this
# checkout in a FROM-scratch image, running as nonroot (65532).
#
#   deploy/build-image.sh [tag]        # default tag: mitosis:latest
#
# Needs Go and a Docker daemon; pulls nothing (the classic builder, since
# BuildKit would fetch its frontend). The Dockerfile at the repository root
# builds the same image on a machine that can pull golang and distroless.
set -eu
tag=${1:-mitosis:latest}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

version=$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo devel)
(cd "$root" && CGO_ENABLED=0 GOOS=linux go build -trimpath \
	-ldflags "-s -w -X github.com/mitosis-run/mitosis/internal/buildinfo.version=$version" \
	-o "$dir/mitosis" .)
cat >"$dir/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY mitosis /mitosis
# 8080: the app. 9090: admin (metrics, health, the dashboard): never publish it.
EXPOSE 8080 9090
USER 65532:65532
HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 CMD ["/mitosis", "healthcheck"]
ENTRYPOINT ["/mitosis"]
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$dir" >/dev/null
echo "built $tag ($version)"
