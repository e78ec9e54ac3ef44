package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/registry/buildset"
	"github.com/shadowreg/shadowreg/storage"
)

// AdminPrefix is where the admin API lives.
const AdminPrefix = "/shadowreg/v1"

// AdminOptions configure the admin API.
type AdminOptions struct {
	Buildsets  *buildset.Manager
	Store      *storage.Store
	Collect    storage.CollectOptions // the server's collection settings; ?dry-run overrides DryRun
	Authorizer Authorizer             // nil: open, like the registry
}

// BuildsetInfo is a buildset as the API shows it.
type BuildsetInfo struct {
	ID       string     `json:"id"`
	Parents  []string   `json:"parents"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires,omitempty"`
	Expired  bool       `json:"expired,omitempty"`
	Promoted *time.Time `json:"promoted,omitempty"`
	Quota    int64      `json:"quota,omitempty"`
	Size     int64      `json:"size"`       // bytes of distinct content it names
	AgeSecs  int64      `json:"ageSeconds"` //
	Areas    []string   `json:"areas,omitempty"`
	// Username and Password are the buildset's credentials, in the answer
	// to a create only.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// CreateRequest is the body of POST /shadowreg/v1/buildsets.
type CreateRequest struct {
	ID      string   `json:"id"`
	Parents []string `json:"parents,omitempty"`
	TTL     string   `json:"ttl,omitempty"`   // a duration ("24h"); "never" or "0" for no expiry... see ttl parsing
	Quota   int64    `json:"quota,omitempty"` // bytes
}

// NewAdmin returns the admin API handler, to mount at AdminPrefix+"/*".
//
//	POST   /shadowreg/v1/buildsets                create   (push)
//	GET    /shadowreg/v1/buildsets                list     (catalog)
//	GET    /shadowreg/v1/buildsets/{id}           show     (pull)
//	DELETE /shadowreg/v1/buildsets/{id}           delete   (delete)
//	POST   /shadowreg/v1/buildsets/{id}/promote   promote  (push)
//	POST   /shadowreg/v1/gc[?dry-run=true]        collect  (delete, and not as a buildset)
//
// The access named is decided on the canonical name buildsets/<id>
// (buildsets for listing and the collector), so a user limited to name
// prefixes manages only the buildsets under them. Creating also needs pull
// on every parent; promoting, push on every shared repository it writes.
func NewAdmin(o AdminOptions) http.Handler {
	a := &admin{o: o}
	r := chi.NewRouter()
	r.Post(AdminPrefix+"/buildsets", a.wrap(a.create))
	r.Get(AdminPrefix+"/buildsets", a.wrap(a.list))
	r.Get(AdminPrefix+"/buildsets/{id}", a.wrap(a.show))
	r.Delete(AdminPrefix+"/buildsets/{id}", a.wrap(a.delete))
	r.Post(AdminPrefix+"/buildsets/{id}/promote", a.wrap(a.promote))
	r.Post(AdminPrefix+"/gc", a.wrap(a.collect))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf("NOT_FOUND", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf("UNSUPPORTED", "%s is not supported on %s", r.Method, r.URL.Path))
	})
	return r
}

type admin struct{ o AdminOptions }

func (a *admin) wrap(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			e := asError(err)
			setErrorCode(r, string(e.Code))
			writeError(w, r, e)
		}
	}
}

// authorize decides an admin request on canonical resources (ref.
// BuildsetResource, ref.AllBuildsets) and returns who asked (nil without
// auth).
func (a *admin) authorize(r *http.Request, want ...auth.Access) (*auth.Identity, error) {
	if a.o.Authorizer == nil {
		return nil, nil
	}
	id := a.o.Authorizer.Authenticate(r)
	setUser(r, id.User())
	return id, a.o.Authorizer.Authorize(r, id, want)
}

// onlyOwn refuses buildset credentials (and users bound to a buildset)
// anything but looking at or deleting their own buildset: jobs running
// unreviewed code hold them, so they never create buildsets, list them,
// collect garbage or promote into the shared area.
func onlyOwn(id *auth.Identity, buildsetID string) error {
	if id == nil || id.Buildset == "" || (buildsetID != "" && id.Buildset == buildsetID) {
		return nil
	}
	return errorf("DENIED", "the credentials of buildset %s may only show or delete that buildset", id.Buildset)
}

// validID refuses an id that cannot name a buildset before it is decided on.
func validID(id string) error {
	if !buildset.ValidID(id) {
		return errorf("NAME_INVALID", "%q is not a buildset id: use lower case letters, digits, '.', '_' and '-' (at most 64)", id)
	}
	return nil
}

func (a *admin) create(w http.ResponseWriter, r *http.Request) error {
	var req CreateRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		return errorf("NAME_INVALID", "the body must be JSON like {\"id\":\"…\",\"parents\":[…],\"ttl\":\"24h\",\"quota\":0}: %v", err)
	}
	if err := validID(req.ID); err != nil {
		return err
	}
	// Creating a buildset needs push on it, and pull on every parent:
	// reads through it fall through them.
	want := []auth.Access{auth.Repository(ref.BuildsetResource(req.ID), auth.ActionPush)}
	for _, p := range req.Parents {
		if err := validID(p); err != nil {
			return errorf("NAME_INVALID", "parent %q is not a buildset id", p)
		}
		want = append(want, auth.Repository(ref.BuildsetResource(p), auth.ActionPull))
	}
	id, err := a.authorize(r, want...)
	if err != nil {
		return err
	}
	if err := onlyOwn(id, ""); err != nil {
		return err
	}
	ttl, err := ParseTTL(req.TTL)
	if err != nil {
		return errorf("NAME_INVALID", "ttl: %v", err)
	}
	b, password, err := a.o.Buildsets.Create(r.Context(), buildset.Spec{ID: req.ID, Parents: req.Parents, TTL: ttl, Quota: req.Quota})
	if err != nil {
		return err
	}
	info := a.info(r, b)
	info.Username, info.Password = buildset.Username(b.ID), password
	return writeAdminJSON(w, http.StatusCreated, info)
}

// ParseTTL reads a buildset's time to live: a duration ("90m", "24h"),
// "never" for none, or "" for the server's default.
func ParseTTL(s string) (time.Duration, error) {
	switch s {
	case "":
		return 0, nil
	case "never":
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New(`write a positive duration like "24h", or "never"`)
	}
	return d, nil
}

func (a *admin) list(w http.ResponseWriter, r *http.Request) error {
	id, err := a.authorize(r, auth.Repository(ref.AllBuildsets, auth.ActionPull))
	if err != nil {
		return err
	}
	if err := onlyOwn(id, ""); err != nil {
		return err
	}
	all, err := a.o.Buildsets.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]BuildsetInfo, 0, len(all))
	for _, b := range all {
		out = append(out, a.info(r, b))
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

// buildsetIn authorizes action on the buildset the path names, which
// buildset credentials may take only on their own; it returns the id.
func (a *admin) buildsetIn(r *http.Request, action string) (string, error) {
	id := chi.URLParam(r, "id")
	if err := validID(id); err != nil {
		return "", err
	}
	who, err := a.authorize(r, auth.Repository(ref.BuildsetResource(id), action))
	if err != nil {
		return "", err
	}
	return id, onlyOwn(who, id)
}

func (a *admin) show(w http.ResponseWriter, r *http.Request) error {
	id, err := a.buildsetIn(r, auth.ActionPull)
	if err != nil {
		return err
	}
	b, err := a.o.Buildsets.Get(r.Context(), id)
	if err != nil {
		return err
	}
	info := a.info(r, b)
	if info.Areas, err = a.o.Buildsets.Areas(r.Context(), b); err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, info)
}

func (a *admin) delete(w http.ResponseWriter, r *http.Request) error {
	id, err := a.buildsetIn(r, auth.ActionDelete)
	if err != nil {
		return err
	}
	if err := a.o.Buildsets.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *admin) promote(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if err := validID(id); err != nil {
		return err
	}
	who, err := a.authorize(r, auth.Repository(ref.BuildsetResource(id), auth.ActionPush))
	if err != nil {
		return err
	}
	if err := onlyOwn(who, ""); err != nil {
		return err
	}
	// A promotion changes what every client pulls from the shared area:
	// it needs push on each shared repository it writes, all decided
	// before anything is written.
	check := func(repos []string) error {
		if a.o.Authorizer == nil {
			return nil
		}
		var refused []string
		for _, name := range repos {
			t, ok := ref.ParseCanonical(name)
			if !ok {
				return errorf("NAME_INVALID", "buildset %s holds %q, which is not a repository name", id, name)
			}
			err := a.o.Authorizer.Authorize(r, who, []auth.Access{auth.Repository(t.String(), auth.ActionPull, auth.ActionPush)})
			var denied *auth.Error
			switch {
			case errors.As(err, &denied):
				refused = append(refused, t.String())
			case err != nil:
				return err
			}
		}
		if len(refused) > 0 {
			return errorf("DENIED", "promoting buildset %s would write shared repositories you may not push to, so nothing was promoted: %s",
				id, strings.Join(refused, ", "))
		}
		return nil
	}
	n, err := a.o.Buildsets.Promote(r.Context(), id, check)
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"id": id, "links": n})
}

func (a *admin) collect(w http.ResponseWriter, r *http.Request) error {
	id, err := a.authorize(r, auth.Repository(ref.AllBuildsets, auth.ActionDelete))
	if err != nil {
		return err
	}
	if err := onlyOwn(id, ""); err != nil {
		return err
	}
	o := a.o.Collect
	o.DryRun, _ = strconv.ParseBool(r.URL.Query().Get("dry-run"))
	rep, err := a.o.Buildsets.Collect(r.Context(), o)
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, rep)
}

func (a *admin) info(r *http.Request, b *buildset.Buildset) BuildsetInfo {
	now := time.Now()
	info := BuildsetInfo{ID: b.ID, Parents: b.Parents, Created: b.Created, Quota: b.Quota,
		AgeSecs: int64(now.Sub(b.Created) / time.Second), Expired: a.o.Buildsets.Expired(b)}
	if info.Parents == nil {
		info.Parents = []string{}
	}
	if !b.Expires.IsZero() {
		e := b.Expires
		info.Expires = &e
	}
	if !b.Promoted.IsZero() {
		p := b.Promoted
		info.Promoted = &p
	}
	if size, err := a.o.Store.AreaUsage(r.Context(), buildset.Area(b.ID)); err == nil {
		info.Size = size
	}
	return info
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}
