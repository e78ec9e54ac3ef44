package upstream

// RequestCounter counts the HTTP requests sent upstream, each try and token
// request included. op is manifest, manifest_head, blob, blob_head, tags or
// token; code is the HTTP status, "error" (no answer) or "timeout".
//
// shadowreg backs it with the prometheus CounterVec
// shadowreg_upstream_requests_total{namespace,op,code}, registered by the
// caller, so that this package registers nothing globally.
type RequestCounter interface {
	Inc(namespace, op, code string)
}

// CounterFunc adapts a function to RequestCounter.
type CounterFunc func(namespace, op, code string)

// Inc calls f.
func (f CounterFunc) Inc(namespace, op, code string) { f(namespace, op, code) }
