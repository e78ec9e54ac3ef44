package registry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors; nil-safe when disabled.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytesOut *prometheus.CounterVec
	bytesIn  *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowreg_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shadowreg_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowreg_http_response_bytes_total", Help: "Bytes sent in response bodies, by route.",
		}, []string{"route"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowreg_http_request_bytes_total", Help: "Bytes received in request bodies with a known length, by route.",
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration, m.bytesOut, m.bytesIn)
	return m
}

// methodLabel maps a request's method onto a fixed set: a label value
// taken from the request as sent would let any client grow the metrics
// (and /metrics) without bound, before routing or auth refuse it.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// statusLabel maps a status onto the codes HTTP defines (100–599); the
// handlers write only those, so this guards against a future mistake.
func statusLabel(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}

// observe counts one request. Every label value comes from a fixed set:
// method (methodLabel), route (the router's names), status (statusLabel).
func (m *metrics) observe(method, route string, status int, out, in int64, d time.Duration) {
	if m == nil {
		return
	}
	method = methodLabel(method)
	m.requests.WithLabelValues(method, route, statusLabel(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
	m.bytesOut.WithLabelValues(route).Add(float64(out))
	if in > 0 {
		m.bytesIn.WithLabelValues(route).Add(float64(in))
	}
}
