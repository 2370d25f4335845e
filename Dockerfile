# syntax=docker/dockerfile:1
# A static customerd on distroless: no shell, no libc, runs as non-root.
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                --build-arg COMMIT=$(git rev-parse --short HEAD) -t customerd .
#   docker run -p 8080:8080 -p 9090:9090 -v customerd-data:/data customerd

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/customerd ./cmd/customerd \
 && /out/customerd version \
 && mkdir -p /out/data

# distroless/static has CA certificates, tzdata and a "nonroot" user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/customerd /customerd
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV CUSTOMERD_LISTEN=0.0.0.0:8080 \
    CUSTOMERD_METRICS_LISTEN=0.0.0.0:9090 \
    CUSTOMERD_DB=sqlite:/data/customerd.db \
    CUSTOMERD_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080 9090
# The image has no curl: the binary checks its own /healthz, on the address
# CUSTOMERD_LISTEN names.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/customerd", "healthcheck"]
ENTRYPOINT ["/customerd"]
CMD ["serve"]
