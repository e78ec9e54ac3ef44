package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
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
// The access named is checked on the repository name buildsets/<id>
// (buildsets for the collector), so a user limited to name prefixes manages
// only the buildsets under them.
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
			writeError(w, r, adminError(err))
		}
	}
}

func adminError(err error) *Error {
	switch {
	case errors.Is(err, buildset.ErrNotFound):
		return errorf("NAME_UNKNOWN", "%v", err)
	case errors.Is(err, buildset.ErrExists):
		return errorf("NAME_INVALID", "%v", err).withStatus(http.StatusConflict)
	case errors.Is(err, buildset.ErrInvalid):
		return errorf("NAME_INVALID", "%v", err)
	}
	return asError(err)
}

// authorize checks that the caller may act on buildset id ("" for the
// collector) and, for buildset credentials, that it is their own buildset.
func (a *admin) authorize(r *http.Request, id, action string) error {
	if a.o.Authorizer == nil {
		return nil
	}
	want := auth.Repository("buildsets", action)
	if id != "" {
		want = auth.Repository("buildsets/"+id, action)
	}
	who, err := a.o.Authorizer.Authorize(r, []auth.Access{want})
	if err != nil {
		return err
	}
	if who.Buildset != "" && (id == "" || who.Buildset != id || action == auth.ActionPush) {
		// Jobs running unreviewed code hold these credentials: they may
		// look at and delete their own buildset, never create buildsets or
		// promote into the shared area.
		return errorf("DENIED", "the credentials of buildset %s may only show or delete that buildset", who.Buildset)
	}
	return nil
}

func (a *admin) create(w http.ResponseWriter, r *http.Request) error {
	var req CreateRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		return errorf("NAME_INVALID", "the body must be JSON like {\"id\":\"…\",\"parents\":[…],\"ttl\":\"24h\",\"quota\":0}: %v", err)
	}
	if err := a.authorize(r, req.ID, auth.ActionPush); err != nil {
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
	if err := a.authorize(r, "", auth.ActionPull); err != nil {
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

func (a *admin) show(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if err := a.authorize(r, id, auth.ActionPull); err != nil {
		return err
	}
	b, err := a.o.Buildsets.Get(r.Context(), id)
	if err != nil {
		return err
	}
	info := a.info(r, b)
	info.Areas = a.o.Buildsets.Areas(r.Context(), b)
	return writeAdminJSON(w, http.StatusOK, info)
}

func (a *admin) delete(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if err := a.authorize(r, id, auth.ActionDelete); err != nil {
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
	if err := a.authorize(r, id, auth.ActionPush); err != nil {
		return err
	}
	n, err := a.o.Buildsets.Promote(r.Context(), id)
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"id": id, "links": n})
}

func (a *admin) collect(w http.ResponseWriter, r *http.Request) error {
	if err := a.authorize(r, "", auth.ActionDelete); err != nil {
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
