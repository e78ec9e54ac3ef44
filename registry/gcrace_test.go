package registry_test

// The race test at the HTTP level: real clients push images (mounting
// shared layers across repositories) and delete some, while garbage
// collection loops with no grace period. Every image whose push was
// acknowledged, and that nobody deleted, must pull completely.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/storage"
)

// gcRaceImage is an acknowledged push.
type gcRaceImage struct {
	repo, tag string
	digest    v1.Hash
}

type gcRaceConfig struct {
	workers, rounds int
	// adminLoops POST /shadowreg/v1/gc in a loop; schedLoops call
	// Manager.Collect directly, as the scheduled collection does.
	adminLoops, schedLoops int
	// adminDryRuns makes every other admin collection a dry run.
	adminDryRuns bool
	maxTime      time.Duration
}

func runGCRaceHTTP(t *testing.T, cfg gcRaceConfig) {
	collect := storage.CollectOptions{Grace: time.Nanosecond, UploadMaxAge: 200 * time.Millisecond}
	e := newBSEnv(t, bsOptions{collect: collect})
	ctx, cancel := context.WithTimeout(t.Context(), cfg.maxTime)
	defer cancel()
	opts := []remote.Option{remote.WithContext(ctx), remote.WithJobs(2)}

	// The base image every pushed image builds on, read back from the
	// registry so that its layers are mountable from library/base.
	baseImg, err := random.Image(32<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(e.ref("library/base:1"), baseImg, opts...); err != nil {
		t.Fatal(err)
	}
	base, err := remote.Image(e.ref("library/base:1"), opts...)
	if err != nil {
		t.Fatal(err)
	}

	var (
		acked, failed, deleted, collections, freed atomic.Int64
		mu                                         sync.Mutex
		kept                                       = map[string]gcRaceImage{} // repo:tag → image
	)
	done := make(chan struct{})
	var loops sync.WaitGroup
	loopErrs := make(chan error, 1)
	loop := func(what string, collectOnce func(i int) (*storage.CollectReport, error)) {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				default:
				}
				rep, err := collectOnce(i)
				if err != nil {
					if ctx.Err() == nil {
						select {
						case loopErrs <- fmt.Errorf("%s: %w", what, err):
						default:
						}
					}
					continue
				}
				collections.Add(1)
				if !rep.DryRun {
					freed.Add(int64(rep.Blobs))
				}
			}
		}()
	}
	for range cfg.adminLoops {
		loop("POST /shadowreg/v1/gc", func(i int) (*storage.CollectReport, error) {
			path := registry.AdminPrefix + "/gc"
			if cfg.adminDryRuns && i%2 == 1 {
				path += "?dry-run=true"
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			var rep storage.CollectReport
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("status %d", resp.StatusCode)
			}
			return &rep, jsonDecode(resp, &rep)
		})
	}
	for range cfg.schedLoops {
		loop("Manager.Collect", func(int) (*storage.CollectReport, error) { return e.mgr.Collect(ctx, collect) })
	}

	var workers sync.WaitGroup
	for w := range cfg.workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			repo := fmt.Sprintf("race/w%d", w)
			copyRepo := repo + "-copy"
			var mine []gcRaceImage
			for round := range cfg.rounds {
				if ctx.Err() != nil {
					return
				}
				layer, err := random.Layer(int64(4<<10+w*512+round), "application/vnd.docker.image.rootfs.diff.tar.gzip")
				if err != nil {
					t.Error(err)
					return
				}
				img, err := mutate.AppendLayers(base, layer)
				if err != nil {
					t.Error(err)
					return
				}
				d, err := img.Digest()
				if err != nil {
					t.Error(err)
					return
				}
				tag := fmt.Sprintf("r%d", round)
				// Base layers are mounted from library/base; the new one is
				// uploaded. A session the collector deleted fails the push:
				// the client pushes again.
				ok := false
				for try := 0; try < 5 && ctx.Err() == nil; try++ {
					if err = remote.Write(e.ref(repo+":"+tag), img, opts...); err == nil {
						ok = true
						break
					}
				}
				if !ok {
					failed.Add(1)
					continue
				}
				acked.Add(1)
				ack := gcRaceImage{repo, tag, d}
				mine = append(mine, ack)
				mu.Lock()
				kept[repo+":"+tag] = ack
				mu.Unlock()
				// The same image into a second repository: every layer is
				// mounted from the first (which may delete it soon).
				if round%2 == 0 {
					pushed, err := remote.Image(e.ref(repo+"@"+d.String()), opts...)
					if err == nil {
						err = remote.Write(e.ref(copyRepo+":"+tag), pushed, opts...)
					}
					if err == nil {
						acked.Add(1)
						mu.Lock()
						kept[copyRepo+":"+tag] = gcRaceImage{copyRepo, tag, d}
						mu.Unlock()
					} else {
						failed.Add(1)
					}
				}
				// Now and then delete an earlier image of the first
				// repository, manifest and own layer: garbage.
				if round%3 == 2 && len(mine) > 1 {
					old := mine[0]
					mine = mine[1:]
					if err := gcRaceDelete(ctx, e, old, opts); err != nil {
						if ctx.Err() == nil {
							t.Errorf("deleting %s:%s: %v", old.repo, old.tag, err)
						}
						continue
					}
					deleted.Add(1)
					mu.Lock()
					delete(kept, old.repo+":"+old.tag)
					mu.Unlock()
				}
			}
		}()
	}
	workers.Wait()
	close(done)
	loops.Wait()
	close(loopErrs)
	for err := range loopErrs {
		t.Logf("a collection failed (and was retried): %v", err)
	}
	t.Logf("acknowledged %d pushes (%d failed), deleted %d images; %d collections freed %d blobs",
		acked.Load(), failed.Load(), deleted.Load(), collections.Load(), freed.Load())
	if acked.Load() == 0 || collections.Load() == 0 {
		t.Fatal("the race did not happen")
	}
	if ctx.Err() != nil {
		t.Logf("stopped after %s", cfg.maxTime)
	}

	// Every acknowledged image that was not deleted pulls completely, by
	// tag and by digest.
	bad := 0
	for _, img := range kept {
		for _, ref := range []string{img.repo + ":" + img.tag, img.repo + "@" + img.digest.String()} {
			got, err := e.pull(ref, creds{})
			if err == nil && got != img.digest {
				err = fmt.Errorf("pulled %s", got)
			}
			if err != nil {
				bad++
				if bad <= 10 {
					t.Errorf("acknowledged image %s does not pull: %v", ref, err)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d pulls of %d acknowledged images failed", bad, len(kept))
	}
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

// gcRaceDelete deletes an image's manifest and the blob only it has: its
// last layer (the config of an image is unique too, but keep it simple).
func gcRaceDelete(ctx context.Context, e *bsEnv, img gcRaceImage, opts []remote.Option) error {
	pulled, err := remote.Image(e.ref(img.repo+"@"+img.digest.String()), opts...)
	if err != nil {
		return err
	}
	layers, err := pulled.Layers()
	if err != nil {
		return err
	}
	own, err := layers[len(layers)-1].Digest()
	if err != nil {
		return err
	}
	if err := remote.Delete(e.ref(img.repo+"@"+img.digest.String()), opts...); err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, e.srv.URL+"/v2/"+img.repo+"/blobs/"+own.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return errors.New("blob delete: " + resp.Status)
	}
	return nil
}

// TestGCRaceHTTP: pushers against one collector looping through the admin
// API.
func TestGCRaceHTTP(t *testing.T) {
	runGCRaceHTTP(t, gcRaceConfig{workers: 6, rounds: 12, adminLoops: 1, maxTime: 3 * time.Minute})
}

// TestGCRaceHTTPScheduledAndAdmin: the scheduled collection (Manager.Collect)
// and collections asked for through the admin API, dry or not, overlap —
// as they do on a server with a gc schedule whose operator also runs
// `POST /shadowreg/v1/gc`.
func TestGCRaceHTTPScheduledAndAdmin(t *testing.T) {
	runGCRaceHTTP(t, gcRaceConfig{workers: 6, rounds: 12, adminLoops: 1, schedLoops: 1, adminDryRuns: true, maxTime: 3 * time.Minute})
}
