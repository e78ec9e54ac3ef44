# shadowreg as a container image: a static binary on a distroless base.
#
#   docker build -t shadowreg .
#   docker run -p 5000:5000 -v shadowreg-data:/data shadowreg
#
# Not built by CI here: the project's machines cannot pull base images (no
# registry but the Go module proxy is reachable). The binary it builds is the
# one tools/test.sh tests.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/shadowreg/shadowreg/cmd/shadowreg/cli.version=${VERSION}" \
      -o /out/shadowreg ./cmd/shadowreg

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/shadowreg /usr/local/bin/shadowreg
COPY config.example.yaml /etc/shadowreg/config.example.yaml
# In a container the registry must listen beyond loopback; put auth and TLS
# in a config file (mounted at /etc/shadowreg/config.yaml) for anything but
# a trusted network.
VOLUME /data
EXPOSE 5000
USER nonroot
ENTRYPOINT ["/usr/local/bin/shadowreg"]
CMD ["serve", "--listen", "0.0.0.0:5000", "--data-dir", "/data"]
