package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// pagedTags serves tags n at a time with distribution's Link headers.
func pagedTags(all []string, link func(last string, n int) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n := 2
		start := 0
		if last := r.URL.Query().Get("last"); last != "" {
			for i, t := range all {
				if t == last {
					start = i + 1
				}
			}
		}
		end := min(start+n, len(all))
		if end < len(all) {
			w.Header().Set("Link", link(all[end-1], n))
		}
		json.NewEncoder(w).Encode(map[string]any{"name": "org/app", "tags": all[start:end]})
	}
}

func TestTagsPagination(t *testing.T) {
	all := []string{"a", "b", "c", "d", "e"}
	srv := serve(t, pagedTags(all, func(last string, n int) string {
		return fmt.Sprintf(`</v2/org/app/tags/list?last=%s&n=%d>; rel="next"`, last, n)
	}))
	c, _ := testClient(t, srv.URL, Config{}, Options{})
	got, err := c.Tags(context.Background(), "org/app")
	if err != nil || !reflect.DeepEqual(got, all) {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestTagsLinkElsewhere(t *testing.T) {
	srv := serve(t, pagedTags([]string{"a", "b", "c"}, func(last string, n int) string {
		return `<http://evil.example/v2/org/app/tags/list?last=b>; rel="next"`
	}))
	c, _ := testClient(t, srv.URL, Config{}, Options{})
	if _, err := c.Tags(context.Background(), "org/app"); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("err = %v", err)
	}
}

func TestTagsLoopAndBound(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `</v2/org/app/tags/list?last=a>; rel="next"`)
		w.Write([]byte(`{"tags":["a"]}`))
	}))
	c, _ := testClient(t, srv.URL, Config{}, Options{})
	if _, err := c.Tags(context.Background(), "org/app"); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("loop: err = %v", err)
	}

	var pages int
	srv = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages++
		w.Header().Set("Link", "</v2/org/app/tags/list?page="+strconv.Itoa(pages)+">; rel=next")
		w.Write([]byte(`{"tags":[]}`))
	}))
	c, _ = testClient(t, srv.URL, Config{}, Options{})
	if _, err := c.Tags(context.Background(), "org/app"); err == nil || !strings.Contains(err.Error(), "more than 1000 pages") {
		t.Fatalf("endless: err = %v", err)
	}
	if pages != maxTagPages {
		t.Errorf("pages fetched = %d, want %d", pages, maxTagPages)
	}
}

func TestTagsNotFound(t *testing.T) {
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	if tags, err := c.Tags(context.Background(), "org/app"); err != nil || !reflect.DeepEqual(tags, []string{"v1"}) {
		t.Fatalf("got %q, %v", tags, err)
	}
	_, err := c.Tags(context.Background(), "org/none")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestNextLink(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{[]string{`</v2/x/tags/list?n=2&last=b>; rel="next"`}, "/v2/x/tags/list?n=2&last=b"},
		{[]string{`</v2/x/tags/list?last=b>; rel=next`}, "/v2/x/tags/list?last=b"},
		{[]string{`<https://h/first>; rel="first", <https://h/next>; rel="next"`}, "https://h/next"},
		{[]string{`<https://h/prev>; rel="prev"`, `<https://h/n>;rel="prev next"`}, "https://h/n"},
		{[]string{`<https://h/a,b>; title="x; y"; REL="Next"`}, "https://h/a,b"},
		{[]string{`<https://h/prev>; rel="prev"`}, ""},
		{[]string{`garbage`}, ""},
		{nil, ""},
	} {
		if got := nextLink(tc.values); got != tc.want {
			t.Errorf("nextLink(%q) = %q, want %q", tc.values, got, tc.want)
		}
	}
}
