# shadowreg as a container image: the static binary, CA certificates and a
# non-root user on scratch. (No "# syntax=" line: BuildKit's built-in
# Dockerfile frontend needs nothing pulled.)
#
# With network (base images pullable), the binary is compiled in golang's image:
#   docker buildx build -t shadowreg .      # or: buildctl build --frontend dockerfile.v0 --local context=. --local dockerfile=.
# Offline, from a binary built on the host (what tests/e2e does with BuildKit):
#   CGO_ENABLED=0 go build -trimpath -o dist/shadowreg ./cmd/shadowreg
#   cp /etc/ssl/certs/ca-certificates.crt dist/
#   buildctl build … --opt build-arg:BIN_FROM=prebuilt
# Either way the final stage is FROM scratch: nothing else to pull.
#
#   docker run -p 5000:5000 -v shadowreg-data:/data shadowreg

# Which stage provides /out/shadowreg and /out/ca-certificates.crt: "build"
# compiles in golang's image (network), "prebuilt" takes them from dist/ in
# the build context. BuildKit builds only the stages the target needs.
ARG BIN_FROM=build

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/shadowreg/shadowreg/cmd/shadowreg/cli.version=${VERSION}" \
      -o /out/shadowreg ./cmd/shadowreg && \
    cp /etc/ssl/certs/ca-certificates.crt /out/

FROM scratch AS prebuilt
COPY dist/shadowreg dist/ca-certificates.crt /out/

FROM ${BIN_FROM} AS bin

FROM scratch
COPY --from=bin /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=bin /out/shadowreg /usr/local/bin/shadowreg
COPY config.example.yaml /etc/shadowreg/config.example.yaml
# scratch has no user database: name the non-root user.
COPY <<EOF /etc/passwd
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
COPY <<EOF /etc/group
root:x:0:
nonroot:x:65532:
EOF
# The data folder and the home (the client's docker config) belong to the
# user the registry runs as.
COPY --chown=65532:65532 <<EOF /data/README
The registry's data directory: mount a volume here.
EOF
COPY --chown=65532:65532 <<EOF /home/nonroot/.keep
EOF
ENV HOME=/home/nonroot SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# In a container the registry must listen beyond loopback; put auth and TLS
# in a config file (mounted at /etc/shadowreg/config.yaml) for anything but
# a trusted network.
VOLUME /data
EXPOSE 5000
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/shadowreg"]
CMD ["serve", "--listen", "0.0.0.0:5000", "--data-dir", "/data"]
