package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	manifestRepo = "bench/manifest"
	manifestTag  = "v1"
	ociManifest  = "application/vnd.oci.image.manifest.v1+json"
)

// manifestCase measures GET manifest-by-tag, the request every pull starts with and
// the one a CI fleet sends most, from many keep-alive clients at once.
func manifestCase(o *options) *Case {
	want := map[string]int{} // manifest length per target, to check every response body
	return &Case{
		Key: "manifest", Name: fmt.Sprintf("manifest GET x%d", o.conc), Unit: "req/s",
		Goal: Goal{VsRef: 2},
		Ours: o.oursKey(""), Ref: "reference",
		Setup: func(ctx context.Context, l *lab, t *Target) error {
			m, err := pushImage(ctx, t)
			want[t.Key] = len(m)
			return err
		},
		Run: func(ctx context.Context, l *lab, t *Target) (Sample, error) {
			u := t.URL + "/v2/" + manifestRepo + "/manifests/" + manifestTag
			return manifestLoad(ctx, t, u, want[t.Key], o.conc, o.duration, o.maxRequests)
		},
		Extras: []Extra{
			{Key: "p50_ms", Label: "latency p50", Unit: "ms"},
			{Key: "p99_ms", Label: "latency p99", Unit: "ms"},
			{Key: "errors", Label: "errors (non-200)", Unit: "count", Sum: true},
		},
	}
}

// pushImage pushes a small image (config + one layer) and checks one GET of it.
func pushImage(ctx context.Context, t *Target) ([]byte, error) {
	layer := newSmallBlob(randomBytes(4096))
	config := newSmallBlob(fmt.Appendf(nil,
		`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]},"config":{}}`, layer.Digest))
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int    `json:"size"`
	}
	m, err := json.Marshal(struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, ociManifest,
		desc{"application/vnd.oci.image.config.v1+json", config.Digest, len(config.Data)},
		[]desc{{"application/vnd.oci.image.layer.v1.tar+gzip", layer.Digest, len(layer.Data)}}})
	if err != nil {
		return nil, err
	}
	for _, b := range []smallBlob{layer, config} {
		if err := pushSmall(ctx, t.Client, t.URL, manifestRepo, b); err != nil {
			return nil, err
		}
	}
	if err := putManifest(ctx, t.Client, t.URL, manifestRepo, manifestTag, ociManifest, m); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	n, err := getManifest(ctx, t.Client, t.URL+"/v2/"+manifestRepo+"/manifests/"+manifestTag, &buf)
	if err == nil && n != len(m) {
		err = fmt.Errorf("GET manifest: %d bytes, want %d", n, len(m))
	}
	return m, err
}

// manifestLoad runs workers closed-loop GETs until dur has passed or maxReq were
// sent. Latencies go to per-worker slices (no lock on the hot path); at most maxReq
// of them, so memory stays bounded.
func manifestLoad(ctx context.Context, t *Target, u string, want, workers int, dur time.Duration, maxReq int64) (Sample, error) {
	var issued, errs atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, workers)
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			ls := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil && time.Now().Before(deadline) && issued.Add(1) <= maxReq {
				t0 := time.Now()
				n, err := getManifest(ctx, t.Client, u, &buf)
				d := time.Since(t0)
				if err == nil && n != want {
					err = fmt.Errorf("GET manifest: %d bytes, want %d", n, want)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ls = append(ls, d)
			}
			lat[w] = ls
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Sample{}, err
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return Sample{}, fmt.Errorf("no successful request (%d errors, first: %v)", errs.Load(), firstErr.Load())
	}
	if errs.Load() > 0 {
		logf("  %s: %d errors, first: %v", t.Name, errs.Load(), firstErr.Load())
	}
	slices.Sort(all)
	return Sample{Value: float64(len(all)) / elapsed.Seconds(), Extra: map[string]float64{
		"p50_ms": ms(percentile(all, 0.50)),
		"p99_ms": ms(percentile(all, 0.99)),
		"errors": float64(errs.Load()),
	}}, nil
}

// percentile of sorted durations, nearest-rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
