# closesink container image: a static binary on an empty base, run as a
# non-root user.
#
#   docker build -t closesink .
#   docker run --rm closesink --help
#
# Build stage: a pinned Go toolchain (matching go.mod) compiles a static
# binary; nothing from it reaches the final image except the binary and the
# CA bundle.
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, so editing code does not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/closesink/closesink/internal/version.Version=${VERSION}" \
      -o /out/closesink ./cmd/closesink

# Final stage: no shell, no package manager, nothing to patch but the binary.
# The CA bundle is needed to reach the real Close API over HTTPS.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/closesink /closesink
# 65532 is the conventional "nonroot" uid/gid of minimal images.
USER 65532:65532
# 8080: `closesink emulator --addr :8080`; 9090: metrics when
# CLOSESINK_METRICS_ADDR=:9090.
EXPOSE 8080 9090
ENTRYPOINT ["/closesink"]
CMD ["run"]
