// Package upstream is the client shadowreg uses to read from the real
// registries it shadows (docker.io, quay.io, ...): manifests, blobs and tag
// lists over the distribution API, with the Docker token flow, retries,
// resumable blob streams and digest checks.
//
// It knows nothing about local storage or the HTTP server side: the shadowing
// layer asks it for content on a local miss and caches what it streams.
// Every error it returns for an upstream failure is an *Error naming the
// upstream; ErrNotFound and ErrUnauthorized tell the cases a caller must
// distinguish, IsUnavailable the ones that are the upstream's fault.
package upstream
