package swift

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Container listings can lag behind writes (the container server updates
// them asynchronously; an overloaded one queues the update for its
// updater). The driver never decides from a listing alone that something may
// go: a listing only nominates names, and what is deleted is either named by
// the caller (Delete(path): everything at and below path is meant to go) or
// checked object by object with a HEAD (a manifest's ownership, below). A
// lagging listing can only make Delete miss a name written a moment before,
// which then leaks instead of being lost; the storage layer's claims and
// tombstones keep live uploads out of the garbage collector's reach.

// Delete implements driver.Driver: the content at path and below it, with
// the segments of the large objects there and every writer's state and
// segments. Path is missing (ErrNotFound) only when none of these exist.
func (d *Driver) Delete(ctx context.Context, path string) error {
	if err := validate(path); err != nil {
		return err
	}
	found, err := d.deleteAll(ctx, path, nil)
	if err != nil {
		return err
	}
	if !found {
		return notFound(path, "")
	}
	return nil
}

// deleteAll removes everything at and below path, and the segments of the
// uploads in extra too. Writer state goes first, content last, so that a
// failure leaves markers behind for the next attempt to find segments by.
func (d *Driver) deleteAll(ctx context.Context, path string, extra []string) (found bool, err error) {
	uploads := slices.Clone(extra)
	var state []string
	err = d.list(ctx, d.layout.stateDir(path), "", func(e entry) bool {
		found = true
		state = append(state, e.Name)
		if s, ok := d.layout.parseSidecar(e.Name); ok && s.uploadID != "" {
			uploads = append(uploads, s.uploadID)
		}
		return true
	})
	if err != nil {
		return found, d.wrap("delete", path, err)
	}
	slices.Sort(uploads)
	for _, id := range slices.Compact(uploads) {
		if err := d.dropUpload(ctx, id); err != nil {
			return found, d.wrap("delete", path, err)
		}
	}
	if err := d.removeAll(ctx, state); err != nil {
		return found, d.wrap("delete", path, err)
	}

	// Content: the object itself and everything below path/ (not "path-x").
	key, dir := d.layout.data(path), d.layout.dataDir(path)
	var content []string
	err = d.list(ctx, key, "", func(e entry) bool {
		if e.Name == key || strings.HasPrefix(e.Name, dir) {
			content = append(content, e.Name)
			return true
		}
		return e.Name < dir // names sort "path", "path-x", "path/...": stop past dir
	})
	if err != nil {
		return found, d.wrap("delete", path, err)
	}
	if len(content) == 0 {
		// The listing may lag behind a PUT: the object itself is checked.
		if k, err := d.kind(ctx, key); err != nil {
			return found, d.wrap("delete", path, err)
		} else if k.exists {
			content = append(content, key)
		}
	}
	for _, n := range content {
		found = true
		if err := d.deleteObject(ctx, n); err != nil {
			return found, d.wrap("delete", d.layout.pathOf(n), err)
		}
	}
	return found, nil
}

// dropState removes path's own checkpoints past keep (all of them, upload
// markers too, when keep < 0) and, when keep < 0, the segments of the
// uploads the markers name except the upload except.
func (d *Driver) dropState(ctx context.Context, path string, keep int64, except string) error {
	var drop, uploads []string
	err := d.list(ctx, d.layout.stateDir(path), "/", func(e entry) bool {
		s, ok := d.layout.parseSidecar(e.Name)
		if !ok || s.path != path { // a subdir: a path below
			return true
		}
		switch {
		case keep < 0 && s.uploadID != "":
			if s.uploadID != except {
				uploads = append(uploads, s.uploadID)
			}
			drop = append(drop, e.Name)
		case keep < 0 || s.size > keep:
			drop = append(drop, e.Name)
		}
		return true
	})
	if err != nil {
		return d.wrap("drop state of", path, err)
	}
	for _, id := range uploads {
		if err := d.dropUpload(ctx, id); err != nil {
			return d.wrap("drop state of", path, err)
		}
	}
	return d.wrap("drop state of", path, d.removeAll(ctx, drop))
}

// dropUpload deletes every segment of upload id.
func (d *Driver) dropUpload(ctx context.Context, id string) error {
	return d.dropSegments(ctx, id, func(string) bool { return true })
}

// dropSegmentsPast deletes upload id's segments numbered above n: those of
// checkpoints that a resumed writer replaced, which the manifest skips.
func (d *Driver) dropSegmentsPast(ctx context.Context, id string, n int) error {
	last := d.layout.segment(id, n)
	return d.dropSegments(ctx, id, func(name string) bool { return name > last })
}

func (d *Driver) dropSegments(ctx context.Context, id string, drop func(string) bool) error {
	var names []string
	err := d.list(ctx, d.layout.segments(id), "", func(e entry) bool {
		if drop(e.Name) {
			names = append(names, e.Name)
		}
		return true
	})
	if err != nil {
		return err
	}
	return d.removeAll(ctx, names)
}

// replace runs put, which replaces the object key, and then deletes the
// segments of the large object key held before, if it owned them and the
// new one does not use them: overwriting a manifest would otherwise leak
// its segments. A failure to read or delete the old ones only leaks them.
func (d *Driver) replace(ctx context.Context, key string, put func() error) error {
	var old []string
	if k, err := d.kind(ctx, key); err == nil && k.owner {
		old, _ = d.manifestSegments(ctx, key)
	}
	if err := put(); err != nil {
		return err
	}
	if len(old) == 0 {
		return nil
	}
	var keep []string
	if k, err := d.kind(ctx, key); err != nil {
		return nil
	} else if k.slo {
		if keep, err = d.manifestSegments(ctx, key); err != nil {
			return nil
		}
	}
	old = slices.DeleteFunc(old, func(n string) bool { return slices.Contains(keep, n) })
	d.removeAll(ctx, old)
	return nil
}

// Move implements driver.Driver: a server-side COPY, then a DELETE of src.
// The copy replaces dst atomically. A large object's manifest is copied
// (?multipart-manifest=get), not its content: after ownership of the
// segments passes to dst, src's manifest is deleted alone.
func (d *Driver) Move(ctx context.Context, src, dst string) error {
	if err := validate(src); err != nil {
		return err
	}
	if err := validate(dst); err != nil {
		return err
	}
	from, to := d.layout.data(src), d.layout.data(dst)
	k, err := d.kind(ctx, from)
	if err != nil {
		return d.wrap("move", src, err)
	}
	if !k.exists {
		return notFound(src, "")
	}
	if src == dst {
		return nil
	}
	copyReq := req{method: "COPY", name: from, ok: []int{201},
		header: map[string]string{"Destination": "/" + escapePath(d.container) + "/" + escapePath(to)}}
	if k.slo {
		// First hand the segments to dst, so that src's manifest, should a
		// crash leave it behind, is no owner and deleting it keeps them.
		if _, err := d.call(ctx, req{method: http.MethodPost, name: from, ok: []int{202},
			header: map[string]string{ownerHeader: escapePath(to), "Content-Type": contentType}}); err != nil {
			return d.wrap("move", src, err)
		}
		copyReq.query = map[string][]string{"multipart-manifest": {"get"}}
	}
	err = d.replace(ctx, to, func() error {
		_, err := d.call(ctx, copyReq)
		return err
	})
	if isNotFound(err) {
		return notFound(src, "")
	}
	if err != nil {
		return fmt.Errorf("%s: move %s to %s: %w", name, src, dst, d.wrap("copy", src, err))
	}
	_, err = d.call(ctx, req{method: http.MethodDelete, name: from, ok: []int{204}})
	if err != nil && !isNotFound(err) {
		return d.wrap("move: remove source", src, err)
	}
	return nil
}
