package registry

import (
	"mime"
	"net/http"
	"strings"
)

// acceptSet is what a client said it accepts for a manifest. Empty means the
// client did not say: anything goes.
type acceptSet struct {
	types []string
	any   bool
}

func parseAccept(h http.Header) acceptSet {
	var a acceptSet
	for _, v := range h.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok && (q == "0" || q == "0.0" || q == "0.00" || q == "0.000") {
				continue
			}
			if mt == "*/*" || mt == "application/*" {
				a.any = true
				continue
			}
			a.types = append(a.types, mt)
		}
	}
	if len(a.types) == 0 {
		a.any = true
	}
	return a
}

func (a acceptSet) accepts(mediaType string) bool {
	if a.any {
		return true
	}
	for _, t := range a.types {
		if t == mediaType {
			return true
		}
	}
	return false
}
