package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// The pull-through cases: an upstream registry (the reference registry, filesystem
// storage) holds one multi-layer image under a docker.io-style name; a cache in
// front of it (shadowreg with --upstream docker.io=…, or the reference registry
// in proxy mode) is pulled cold (new, empty storage every rep) and warm (the
// same cache again), next to the same pull straight from the upstream ("direct").
// All pulls are done alike: GET the manifest by tag, then the config and the
// layers, --pull-parallel at a time (docker's max-concurrent-downloads is 3).

const (
	imageRepo = "library/bench" // docker.io/library/bench: what a docker mirror request names
	imageTag  = "1"
	// Uncompressed layers: the random bytes are no tar, but no registry looks.
	layerMediaType  = "application/vnd.oci.image.layer.v1.tar"
	configMediaType = "application/vnd.oci.image.config.v1+json"
)

// image is the bench image. Its layers are ChaCha8 streams from a random seed,
// regenerated whenever they are needed (hashed once, pushed once): never on disk,
// never whole in memory.
type image struct {
	Layers         []layerSpec
	Config         smallBlob
	Manifest       []byte
	ManifestDigest string
	Bytes          int64 // config + layers: what one pull reads besides the manifest
}

type layerSpec struct {
	Seed   [32]byte
	Size   int64
	Digest string
}

func (ls layerSpec) reader() io.Reader { return io.LimitReader(mrand.NewChaCha8(ls.Seed), ls.Size) }

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type ociManifestDoc struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// makeImage generates n layers totalling about totalMiB and hashes them.
func makeImage(totalMiB int64, n int) (*image, error) {
	img := &image{}
	size := totalMiB << 20 / int64(n)
	buf := make([]byte, 1<<20)
	var diffIDs []string
	for range n {
		ls := layerSpec{Size: size}
		if _, err := rand.Read(ls.Seed[:]); err != nil {
			return nil, err
		}
		h := sha256.New()
		if _, err := io.CopyBuffer(h, ls.reader(), buf); err != nil {
			return nil, err
		}
		ls.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
		img.Layers = append(img.Layers, ls)
		diffIDs = append(diffIDs, ls.Digest)
		img.Bytes += size
	}
	ids, _ := json.Marshal(diffIDs)
	img.Config = newSmallBlob(fmt.Appendf(nil,
		`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":%s},"config":{}}`, ids))
	img.Bytes += int64(len(img.Config.Data))
	m := ociManifestDoc{SchemaVersion: 2, MediaType: ociManifest,
		Config: descriptor{configMediaType, img.Config.Digest, int64(len(img.Config.Data))}}
	for _, ls := range img.Layers {
		m.Layers = append(m.Layers, descriptor{layerMediaType, ls.Digest, ls.Size})
	}
	var err error
	if img.Manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(img.Manifest)
	img.ManifestDigest = "sha256:" + hex.EncodeToString(sum[:])
	return img, nil
}

func (img *image) String() string {
	return fmt.Sprintf("%s:%s, %d layers of %s + config, %s", imageRepo, imageTag, len(img.Layers),
		mib(img.Layers[0].Size), mib(img.Bytes))
}

// pushImage makes the image (once per run) and pushes it into t, layers streamed.
func (l *lab) pushImage(ctx context.Context, t *Target) error {
	if l.image == nil {
		t0 := time.Now()
		img, err := makeImage(l.opt.imageMiB, l.opt.layers)
		if err != nil {
			return err
		}
		l.image = img
		logf("image %s generated and hashed in %s", img, time.Since(t0).Round(time.Millisecond))
	}
	img := l.image
	t0 := time.Now()
	for _, ls := range img.Layers {
		if _, err := pushStream(ctx, t.Client, t.URL, imageRepo, ls.reader(), ls.Size, ls.Digest, l.opt.chunked); err != nil {
			return err
		}
	}
	if err := pushSmall(ctx, t.Client, t.URL, imageRepo, img.Config); err != nil {
		return err
	}
	if err := putManifest(ctx, t.Client, t.URL, imageRepo, imageTag, ociManifest, img.Manifest); err != nil {
		return err
	}
	logf("image pushed to %s in %s", t.Name, time.Since(t0).Round(time.Millisecond))
	return nil
}

// pullImage pulls name:tag as docker does: the manifest by tag, then every blob
// it names, parallel at a time. The manifest must be the bench image's (digest
// checked); blob sizes are always checked, digests with verify.
func pullImage(ctx context.Context, c *http.Client, base string, img *image, parallel int, verify bool) (time.Duration, error) {
	start := time.Now()
	var mb bytes.Buffer
	if _, err := getManifest(ctx, c, base+"/v2/"+imageRepo+"/manifests/"+imageTag, &mb); err != nil {
		return 0, err
	}
	if sum := sha256.Sum256(mb.Bytes()); "sha256:"+hex.EncodeToString(sum[:]) != img.ManifestDigest {
		return 0, fmt.Errorf("GET manifest: digest sha256:%x, want %s", sum, img.ManifestDigest)
	}
	var m ociManifestDoc
	if err := json.Unmarshal(mb.Bytes(), &m); err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	// docker fetches the config beside the layers; it is first in line here.
	for _, d := range append([]descriptor{m.Config}, m.Layers...) {
		g.Go(func() error {
			return getBlob(gctx, c, base, imageRepo, d.Digest, d.Size, verify, make([]byte, 1<<20))
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// logMark is a position in a target's log; requests() lists the access-log
// lines written after it. The upstream logs every request (combined log format).
type logMark struct {
	path string
	off  int64
}

func markLog(t *Target) logMark {
	m := logMark{path: t.Log}
	if st, err := os.Stat(t.Log); err == nil {
		m.off = st.Size()
	}
	return m
}

var accessLine = regexp.MustCompile(`"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/[0-9.]+" (\d{3}) `)

// requests waits until the log has stopped growing for 200 ms (at most 3 s: a
// request's line is written when its handler returns, just after the client
// got the last byte), then returns the requests logged since the mark, each as
// "METHOD kind status" with kind manifest, blob, ping or the path.
func (m logMark) requests() ([]string, error) {
	last, stable := int64(-1), time.Now()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		st, err := os.Stat(m.path)
		if err != nil {
			return nil, err
		}
		if st.Size() != last {
			last, stable = st.Size(), time.Now()
		} else if time.Since(stable) >= 200*time.Millisecond {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	f, err := os.Open(m.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, m.off, 64<<20))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		sm := accessLine.FindStringSubmatch(line)
		if sm == nil {
			continue
		}
		kind := sm[2]
		switch {
		case strings.Contains(kind, "/manifests/"):
			kind = "manifest"
		case strings.Contains(kind, "/blobs/"):
			kind = "blob"
		case kind == "/v2/" || kind == "/v2":
			kind = "ping"
		}
		out = append(out, sm[1]+" "+kind+" "+sm[3])
	}
	return out, nil
}

// tally summarizes request lines: "GET blob 200 ×6, HEAD manifest 200 ×1".
func tally(reqs []string) string {
	if len(reqs) == 0 {
		return "none"
	}
	n := map[string]int{}
	for _, r := range reqs {
		n[r]++
	}
	var keys []string
	for k := range n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// ptState is shared by the cold and warm cases: which caches hold the image.
type ptState struct {
	pulled map[string]bool // target key → it has pulled the image through (its cache is not empty)
}

// pullThroughCases returns the cold and the warm case. Times are seconds (lower
// is better); the "direct" column is the same pull from the upstream, timed in
// the same interleaved rounds.
func pullThroughCases(o *options) (cold, warm *Case) {
	st := &ptState{pulled: map[string]bool{}}
	refKey := "reference-pt"
	extras := []Extra{
		{Key: "mbps", Label: "throughput", Unit: "MB/s"},
		{Key: "upstream", Label: "requests reaching the upstream, per pull", Unit: "count", NoRatio: true},
	}
	// run is one timed pull of any target; for a cache it also counts what
	// reached the upstream meanwhile.
	run := func(label string) func(ctx context.Context, l *lab, t *Target) (Sample, error) {
		return func(ctx context.Context, l *lab, t *Target) (Sample, error) {
			var mark logMark
			var up *Target
			if t.Key != "upstream" {
				st.pulled[t.Key] = true
				var err error
				if up, err = l.get(ctx, "upstream"); err != nil {
					return Sample{}, err
				}
				mark = markLog(up)
			}
			d, err := pullImage(ctx, t.Client, t.URL, l.image, o.pullParallel, o.verify)
			if err != nil {
				return Sample{}, err
			}
			s := Sample{Value: d.Seconds(), Extra: map[string]float64{"mbps": mbps(l.image.Bytes, d)}}
			if up != nil {
				reqs, err := mark.requests()
				if err != nil {
					return Sample{}, fmt.Errorf("reading the upstream's access log: %w", err)
				}
				s.Extra["upstream"] = float64(len(reqs))
				logf("%-9s %-11s   upstream saw %d requests: %s", label, t.Name, len(reqs), tally(reqs))
			}
			return s, nil
		}
	}
	// The upstream (and its image) starts with the first cache; Setup makes sure
	// the image is there when only the direct pull would start it.
	needImage := func(ctx context.Context, l *lab, t *Target) error {
		_, err := l.get(ctx, "upstream")
		return err
	}
	cold = &Case{
		Key: "pt-cold", Name: "cold pull-through (empty cache)", Unit: "s",
		Lower: true, Base: "direct", Goal: Goal{MaxVsLimit: 1.10},
		Ours: o.oursKey("pt"), Ref: refKey, Limit: "upstream",
		Setup: needImage,
		// A new process on new storage for every rep, untimed.
		Prepare: func(ctx context.Context, l *lab, t *Target) error {
			if t.Key == "upstream" || !st.pulled[t.Key] {
				return nil
			}
			st.pulled[t.Key] = false
			return l.fresh(ctx, t)
		},
		Run:    run("pt-cold"),
		Extras: extras,
	}
	warm = &Case{
		Key: "pt-warm", Name: "warm pull-through (cache hits)", Unit: "s",
		Lower: true, Base: "direct", Goal: Goal{MaxVsLimit: 1.00},
		Ours: o.oursKey("pt"), Ref: refKey, Limit: "upstream",
		// Fill the cache untimed unless the cold case already did.
		Setup: func(ctx context.Context, l *lab, t *Target) error {
			if err := needImage(ctx, l, t); err != nil || t.Key == "upstream" || st.pulled[t.Key] {
				return err
			}
			st.pulled[t.Key] = true
			_, err := pullImage(ctx, t.Client, t.URL, l.image, o.pullParallel, true)
			return err
		},
		Run:    run("pt-warm"),
		Extras: extras,
	}
	return cold, warm
}
