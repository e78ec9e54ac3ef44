package registry

import (
	"net/http"
	"slices"
	"testing"
)

func TestParseAccept(t *testing.T) {
	t.Parallel()
	const (
		ociM  = "application/vnd.oci.image.manifest.v1+json"
		ociI  = "application/vnd.oci.image.index.v1+json"
		dockM = "application/vnd.docker.distribution.manifest.v2+json"
		dockL = "application/vnd.docker.distribution.manifest.list.v2+json"
	)
	all := []string{ociM, ociI, dockM, dockL}
	tests := []struct {
		name    string
		headers []string // Accept header values, one per header line
		types   []string // parsed types
		any     bool
		accepts []string // of all: the ones accepted
	}{
		{"no header", nil, nil, true, all},
		{"empty header", []string{""}, nil, true, all},
		{"one type", []string{dockM}, []string{dockM}, false, []string{dockM}},
		{"comma list", []string{dockM + ", " + dockL}, []string{dockM, dockL}, false, []string{dockM, dockL}},
		{"comma list without spaces", []string{ociM + "," + ociI}, []string{ociM, ociI}, false, []string{ociM, ociI}},
		{"several headers", []string{dockM, ociI}, []string{dockM, ociI}, false, []string{dockM, ociI}},
		{"several headers with lists", []string{dockM + "," + dockL, ociM}, []string{dockM, dockL, ociM}, false, []string{dockM, dockL, ociM}},
		{"parameters ignored", []string{ociM + "; charset=utf-8; q=0.5"}, []string{ociM}, false, []string{ociM}},
		{"case insensitive", []string{"Application/VND.OCI.Image.Manifest.v1+JSON"}, []string{ociM}, false, []string{ociM}},
		{"q=0 refuses", []string{dockM + ", " + ociM + ";q=0"}, []string{dockM}, false, []string{dockM}},
		{"q=0.0 refuses", []string{dockM + ", " + ociM + "; q=0.0"}, []string{dockM}, false, []string{dockM}},
		{"q=0.000 refuses", []string{dockM + ", " + ociM + ";q=0.000"}, []string{dockM}, false, []string{dockM}},
		{"Q=0 refuses", []string{dockM + ", " + ociM + ";Q=0"}, []string{dockM}, false, []string{dockM}},
		{"q=0.1 accepts", []string{dockM + ", " + ociM + ";q=0.1"}, []string{dockM, ociM}, false, []string{dockM, ociM}},
		{"star star", []string{dockM + ", */*"}, []string{dockM}, true, all},
		{"application star", []string{"application/*"}, nil, true, all},
		{"other wildcard is a type", []string{"text/*"}, []string{"text/*"}, false, nil},
		{"unparsable parts skipped", []string{"garbage;;;, " + dockM}, []string{dockM}, false, []string{dockM}},
		{"only unparsable", []string{";;;"}, nil, true, all},
		{"json", []string{"application/json"}, []string{"application/json"}, false, nil},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, v := range tt.headers {
			h.Add("Accept", v)
		}
		a := parseAccept(h)
		if !slices.Equal(a.types, tt.types) || a.any != tt.any {
			t.Errorf("%s: parseAccept(%q) = %q any=%v; want %q any=%v", tt.name, tt.headers, a.types, a.any, tt.types, tt.any)
		}
		var got []string
		for _, mt := range all {
			if a.accepts(mt) {
				got = append(got, mt)
			}
		}
		want := slices.Clone(tt.accepts)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q accepts %q, want %q", tt.name, tt.headers, got, tt.accepts)
		}
	}
}
