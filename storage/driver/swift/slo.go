package swift

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
)

// A static large object is a manifest naming its segments. Segments are
// shared when a manifest is copied (Move), so a manifest records which
// object owns them: ownerHeader holds the owner's object name. Delete
// removes segments with the manifest only when the manifest is their owner;
// Move hands ownership to the destination before it copies. A manifest left
// at a Move's source by a crash is then no owner, and deleting it keeps the
// segments that the destination still reads.
const ownerHeader = "X-Object-Meta-Shadowreg-Owner"

// sloEntry is one segment in a manifest, as PUT ?multipart-manifest=put
// takes it; Swift checks every etag and size against the segment.
type sloEntry struct {
	Path      string `json:"path"`
	ETag      string `json:"etag"`
	SizeBytes int64  `json:"size_bytes"`
}

// storedEntry is one segment as GET ?multipart-manifest=get returns it.
type storedEntry struct {
	Name  string `json:"name"` // "/container/object"
	Bytes int64  `json:"bytes"`
	Hash  string `json:"hash"`
}

// maxManifestSize bounds what reading a manifest accepts (Swift's default
// max_manifest_size is 8 MiB).
const maxManifestSize = 8 << 20

// putManifest stores the manifest of segs at name, owned by name.
func (d *Driver) putManifest(ctx context.Context, name, uploadID string, segs []segment) error {
	m := make([]sloEntry, len(segs))
	for i, s := range segs {
		m[i] = sloEntry{Path: "/" + d.container + "/" + d.layout.segment(uploadID, s.Number), ETag: s.ETag, SizeBytes: s.Size}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = d.call(ctx, req{method: http.MethodPut, name: name, query: url.Values{"multipart-manifest": {"put"}},
		header: map[string]string{"Content-Type": contentType, ownerHeader: escapePath(name)}, body: b, ok: []int{201}})
	return err
}

// objectKind is what a HEAD says of an object: whether it is a manifest,
// and whether it owns its segments.
type objectKind struct {
	exists, slo, owner bool
}

func (d *Driver) kind(ctx context.Context, name string) (objectKind, error) {
	hdr, err := d.call(ctx, req{method: http.MethodHead, name: name, ok: []int{200}})
	if isNotFound(err) {
		return objectKind{}, nil
	}
	if err != nil {
		return objectKind{}, err
	}
	k := objectKind{exists: true, slo: strings.EqualFold(hdr.Get("X-Static-Large-Object"), "true")}
	owner, _ := url.PathUnescape(hdr.Get(ownerHeader))
	k.owner = k.slo && owner == name
	return k, nil
}

// manifestSegments lists the segment names of the manifest at name.
func (d *Driver) manifestSegments(ctx context.Context, name string) ([]string, error) {
	b, _, err := d.getSmall(ctx, name, url.Values{"multipart-manifest": {"get"}}, maxManifestSize)
	if err != nil {
		return nil, err
	}
	var m []storedEntry
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %v", name, err)
	}
	out := make([]string, 0, len(m))
	prefix := "/" + d.container + "/"
	for _, e := range m {
		if n, ok := strings.CutPrefix(e.Name, prefix); ok && strings.HasPrefix(n, d.layout.segmentRoot) {
			out = append(out, n)
		}
	}
	return out, nil
}

// deleteObject removes the object name: a manifest that owns its segments
// with them, anything else alone. A missing object is not an error.
func (d *Driver) deleteObject(ctx context.Context, name string) error {
	k, err := d.kind(ctx, name)
	if err != nil || !k.exists {
		return err
	}
	var segs []string
	if k.owner {
		// Read first, delete the manifest, then the segments: a failure in
		// between leaks segments, never a manifest pointing at none.
		if segs, err = d.manifestSegments(ctx, name); err != nil && !isNotFound(err) {
			return err
		}
	}
	if _, err := d.call(ctx, req{method: http.MethodDelete, name: name, ok: []int{204}}); err != nil && !isNotFound(err) {
		return err
	}
	return d.removeAll(ctx, segs)
}

// removeAll deletes objects by name, missing ones included, with the bulk
// middleware's DELETE (one request per 1000) where the cluster has it, else
// one by one.
func (d *Driver) removeAll(ctx context.Context, names []string) error {
	for len(names) > 0 {
		n := min(len(names), bulkDeleteBatch)
		if err := d.bulkDelete(ctx, names[:n]); err != nil {
			return err
		}
		names = names[n:]
	}
	return nil
}

const bulkDeleteBatch = 1000

// bulkResult is the bulk middleware's JSON answer.
type bulkResult struct {
	ResponseStatus string     `json:"Response Status"`
	Errors         [][]string `json:"Errors"`
}

func (d *Driver) bulkDelete(ctx context.Context, names []string) error {
	if len(names) == 1 || d.noBulk.Load() {
		for _, n := range names {
			_, err := d.call(ctx, req{method: http.MethodDelete, name: n, ok: []int{204}})
			if err != nil && !isNotFound(err) {
				return err
			}
		}
		return nil
	}
	var body strings.Builder
	for _, n := range names {
		body.WriteString(url.PathEscape(d.container) + "/" + escapePath(n) + "\n")
	}
	resp, err := d.sc.ProviderClient.Request(ctx, http.MethodPost, d.sc.Endpoint+"?bulk-delete", &gophercloud.RequestOpts{
		RawBody:          strings.NewReader(body.String()),
		MoreHeaders:      map[string]string{"Accept": "application/json", "Content-Type": "text/plain"},
		OkCodes:          []int{200},
		KeepResponseBody: true,
	})
	if status(err) == http.StatusNotFound || status(err) == http.StatusBadRequest || status(err) == http.StatusNotImplemented {
		d.noBulk.Store(true) // no bulk middleware: one by one from now on
		return d.bulkDelete(ctx, names)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r bulkResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("bulk delete: %v", err)
	}
	for _, e := range r.Errors {
		if len(e) == 2 && !strings.HasPrefix(e[1], "404") {
			return fmt.Errorf("bulk delete %s: %s", e[0], e[1])
		}
	}
	if !strings.HasPrefix(r.ResponseStatus, "200") && !strings.HasPrefix(r.ResponseStatus, "404") {
		return fmt.Errorf("bulk delete: %s", r.ResponseStatus)
	}
	return nil
}

func escapePath(n string) string {
	parts := strings.Split(n, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
