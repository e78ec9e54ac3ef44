package cli

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shadowreg/shadowreg/storage"
)

// appMetrics are the metrics of the parts the registry package does not
// see: garbage collection and where pulls are served from.
type appMetrics struct {
	served     *prometheus.CounterVec
	gcRuns     *prometheus.CounterVec
	gcDeleted  *prometheus.CounterVec
	gcFreed    prometheus.Counter
	gcLastOK   prometheus.Gauge
	gcLastTook prometheus.Gauge
	gcPause    prometheus.Histogram
}

func newAppMetrics(reg prometheus.Registerer) *appMetrics {
	m := &appMetrics{
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowreg_served_total",
			Help: "Manifest reads (HEAD and GET) and blob GETs by where they were served from: local (pushed), cache or upstream.",
		}, []string{"namespace", "kind", "source"}),
		gcRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowreg_gc_runs_total", Help: "Garbage collections (not dry runs), by result: ok or error.",
		}, []string{"result"}),
		gcDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowreg_gc_deleted_total",
			Help: "What garbage collection deleted: buildsets, uploads, cache_entries, blobs, temp_files.",
		}, []string{"kind"}),
		gcFreed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shadowreg_gc_freed_bytes_total", Help: "Bytes freed by garbage collection.",
		}),
		gcLastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shadowreg_gc_last_success_timestamp_seconds", Help: "When the last successful garbage collection ended (Unix time).",
		}),
		gcLastTook: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shadowreg_gc_last_duration_seconds", Help: "How long the last successful garbage collection took.",
		}),
		gcPause: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "shadowreg_gc_pause_seconds",
			Help:    "How long garbage collection kept pushes, mounts and upload commits from referencing content, per pause (the start of a marking, each batch of deletions).",
			Buckets: []float64{.00001, .0001, .0005, .001, .005, .01, .025, .05, .1, .25, 1},
		}),
	}
	reg.MustRegister(m.served, m.gcRuns, m.gcDeleted, m.gcFreed, m.gcLastOK, m.gcLastTook, m.gcPause)
	return m
}

func (m *appMetrics) servedFrom(namespace, kind, source string) {
	m.served.WithLabelValues(namespace, kind, source).Inc()
}

// gcPaused records one moment in which a collection kept references out.
func (m *appMetrics) gcPaused(d time.Duration) { m.gcPause.Observe(d.Seconds()) }

// collected records one garbage collection.
func (m *appMetrics) collected(rep *storage.CollectReport, err error) {
	if err != nil {
		m.gcRuns.WithLabelValues("error").Inc()
		return
	}
	m.gcRuns.WithLabelValues("ok").Inc()
	for kind, n := range map[string]int{"buildsets": len(rep.Areas), "uploads": rep.Uploads,
		"cache_entries": rep.CacheLinks, "blobs": rep.Blobs, "temp_files": rep.TempFiles} {
		m.gcDeleted.WithLabelValues(kind).Add(float64(n))
	}
	m.gcFreed.Add(float64(rep.FreedBytes))
	m.gcLastOK.SetToCurrentTime()
	m.gcLastTook.Set(rep.Took.Seconds())
}
