package auth

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/shadowreg/shadowreg/internal/ref"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    Access
		wantErr bool
	}{
		{in: "repository:library/alpine:pull", want: Repository("library/alpine", "pull")},
		{in: "repository:library/alpine:pull,push", want: Repository("library/alpine", "pull", "push")},
		{in: "repository:a:push,pull,push", want: Repository("a", "push", "pull")},
		{in: "repository:a:pull, push", want: Repository("a", "pull", "push")},
		{in: "repository:a:*", want: Repository("a", "*")},
		{in: "repository:a:", want: Repository("a")},
		// A name with a registry host and port: the type ends at the first
		// colon, the actions start after the last.
		{in: "repository:localhost:5000/foo:pull", want: Repository("localhost:5000/foo", "pull")},
		{in: "repository:quay.io/org/img:pull,push", want: Repository("quay.io/org/img", "pull", "push")},
		{in: "repository(plugin):vieux/sshfs:pull", want: Repository("vieux/sshfs", "pull")},
		{in: "registry:catalog:*", want: Catalog()},
		{in: "somethingelse:x:y", want: Access{Type: "somethingelse", Name: "x", Actions: []string{"y"}}},
		{in: "repository:alpine", wantErr: true},
		{in: "repository", wantErr: true},
		{in: "", wantErr: true},
		{in: "repository::pull", wantErr: true},
		{in: ":alpine:pull", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseScope(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseScope(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (got.Type != tt.want.Type || got.Name != tt.want.Name || !sameActions(got.Actions, tt.want.Actions)) {
			t.Errorf("ParseScope(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func sameActions(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func TestParseScopes(t *testing.T) {
	// Repeated parameters (GET) and space-separated lists (POST) mix.
	got, errs := ParseScopes([]string{
		"repository:a:pull repository:b:push",
		"registry:catalog:*",
		"bogus",
		"  ",
	})
	want := []string{"repository:a:pull", "repository:b:push", "registry:catalog:*"}
	if len(errs) != 1 {
		t.Errorf("errors = %v, want one for %q", errs, "bogus")
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("scope %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestAccessString(t *testing.T) {
	if got := Repository("localhost:5000/foo", "pull", "push").String(); got != "repository:localhost:5000/foo:pull,push" {
		t.Errorf("got %q", got)
	}
	if got := Catalog().String(); got != "registry:catalog:*" {
		t.Errorf("got %q", got)
	}
}

func TestCovers(t *testing.T) {
	a := Repository
	tests := []struct {
		name           string
		granted, wants []Access
		ok             bool
	}{
		{"exact", []Access{a("x", "pull")}, []Access{a("x", "pull")}, true},
		{"subset", []Access{a("x", "pull", "push")}, []Access{a("x", "push")}, true},
		{"missing action", []Access{a("x", "pull")}, []Access{a("x", "pull", "push")}, false},
		{"other repository", []Access{a("x", "pull", "push")}, []Access{a("y", "pull")}, false},
		{"prefix is not a repository", []Access{a("team", "pull")}, []Access{a("team/app", "pull")}, false},
		{"split entries pool", []Access{a("x", "pull"), a("x", "push")}, []Access{a("x", "pull", "push")}, true},
		{"two repositories (mount)", []Access{a("x", "pull"), a("y", "pull", "push")}, []Access{a("y", "push"), a("x", "pull")}, true},
		{"star grants all", []Access{a("x", "*")}, []Access{a("x", "delete")}, true},
		{"all grant star", []Access{a("x", "pull", "push", "delete")}, []Access{a("x", "*")}, true},
		{"star needs all", []Access{a("x", "pull", "push")}, []Access{a("x", "*")}, false},
		{"catalog", []Access{Catalog()}, []Access{Catalog()}, true},
		{"catalog missing", []Access{a("x", "*")}, []Access{Catalog()}, false},
		{"nothing wanted", nil, nil, true},
		{"empty actions wanted", nil, []Access{a("x")}, true},
		{"empty grant", []Access{a("x")}, []Access{a("x", "pull")}, false},
		{"type matters", []Access{{Type: "registry", Name: "x", Actions: []string{"pull"}}}, []Access{a("x", "pull")}, false},
	}
	for _, tt := range tests {
		if got := covers(tt.granted, tt.wants); got != tt.ok {
			t.Errorf("%s: covers(%v, %v) = %v, want %v", tt.name, tt.granted, tt.wants, got, tt.ok)
		}
	}
}

func TestScopeList(t *testing.T) {
	got := scopeList([]Access{
		Repository("b", "push", "pull"),
		Repository("a", "pull"),
		Repository("b", "delete"),
		Repository("empty"),
		Catalog(),
	})
	want := "repository:b:pull,push,delete repository:a:pull registry:catalog:*"
	if got != want {
		t.Errorf("scopeList = %q, want %q", got, want)
	}
}

// chainsOf is a fixed set of overlay chains: id → its chain (id first).
type chainsOf map[string][]string

func (c chainsOf) Chain(_ context.Context, id string) ([]string, error) {
	if id == "broken" {
		return nil, errors.New("storage unreachable")
	}
	return c[id], nil
}

func TestPolicyGrant(t *testing.T) {
	names := ref.Names{}
	reader := newPolicy(User{Access: AccessRead}, names)
	writer := newPolicy(User{Access: AccessWrite}, names)
	team := newPolicy(User{Access: AccessWrite, Prefixes: []string{"team/", "/infra", "quay.io/org"}}, names)
	lib := newPolicy(User{Access: AccessRead, Prefixes: []string{"library"}}, names)
	own := newPolicy(User{Access: AccessWrite, Prefixes: []string{"buildsets/own-1"}}, names)
	ownTeam := newPolicy(User{Access: AccessWrite, Prefixes: []string{"buildsets/own-1/team"}}, names)
	boundC := newPolicy(User{Access: AccessWrite, Buildset: "c"}, names)
	boundApp := newPolicy(User{Access: AccessWrite, Buildset: "c", Prefixes: []string{"org/app"}}, names)
	chains := chainsOf{"c": {"c", "b", "a"}, "b": {"b", "a"}, "own-1": {"own-1", "base"}}
	r := func(name string, actions ...string) Access { return Repository(canon(name), actions...) }
	tests := []struct {
		p    policy
		in   Access
		want string
	}{
		{reader, r("a", "pull", "push", "delete"), "repository:docker.io/library/a:pull"},
		{reader, r("a", "*"), "repository:docker.io/library/a:pull"},
		{reader, r("a", "push"), "repository:docker.io/library/a:"},
		{writer, r("a", "delete", "push", "pull"), "repository:docker.io/library/a:pull,push,delete"},
		{writer, r("a", "*"), "repository:docker.io/library/a:pull,push,delete"},
		{writer, r("a", "frobnicate"), "repository:docker.io/library/a:"},
		{writer, Catalog(), "registry:catalog:*"},
		{reader, Catalog(), "registry:catalog:*"},
		{anonymousPolicy, Catalog(), "registry:catalog:*"},
		{anonymousPolicy, r("a", "pull", "push"), "repository:docker.io/library/a:pull"},
		{writer, Access{Type: "registry", Name: "other", Actions: []string{"*"}}, "registry:other:"},
		{writer, Access{Type: "registry", Name: "catalog", Actions: []string{"pull"}}, "registry:catalog:"},
		{writer, Access{Type: "nonsense", Name: "a", Actions: []string{"pull"}}, "nonsense:a:"},
		// Prefixes are compared in canonical form, whole components at a time.
		{team, r("team/app", "push"), "repository:docker.io/team/app:push"},
		{team, r("team/a/b", "push"), "repository:docker.io/team/a/b:push"},
		{team, r("docker.io/team/app", "push"), "repository:docker.io/team/app:push"},
		{team, r("team", "push"), "repository:docker.io/library/team:"}, // Docker Hub's official image "team"
		{team, r("library/team", "push"), "repository:docker.io/library/team:"},
		{team, r("teamx/app", "pull", "push"), "repository:docker.io/teamx/app:"},
		{team, r("infra/x", "pull"), "repository:docker.io/infra/x:pull"},
		{team, r("quay.io/org/img", "pull"), "repository:quay.io/org/img:pull"},
		{team, r("quay.io/organisation/img", "pull"), "repository:quay.io/organisation/img:"},
		{team, r("quay.io/team/app", "pull"), "repository:quay.io/team/app:"}, // another namespace
		{team, r("library/alpine", "pull"), "repository:docker.io/library/alpine:"},
		{team, Catalog(), "registry:catalog:*"},
		{lib, r("alpine", "pull"), "repository:docker.io/library/alpine:pull"},
		{lib, r("quay.io/library/secret", "pull"), "repository:quay.io/library/secret:"},
		// Nothing is decided on a name that is not canonical.
		{writer, Repository("library/alpine", "pull"), "repository:library/alpine:"},
		{writer, Repository("team/../other", "pull"), "repository:team/../other:"},
		{writer, Repository("team//app", "pull"), "repository:team//app:"},
		{writer, Repository("a b", "pull"), "repository:a b:"},
		{writer, r("localhost:5000/foo", "pull"), "repository:localhost:5000/foo:pull"},
		{policy{}, r("a", "pull"), "repository:docker.io/library/a:"},
		{policy{}, Catalog(), "registry:catalog:"},
		// Buildset prefixes: the buildset, and reads of its overlay chain.
		{own, r("buildsets/own-1/x/y", "pull", "push"), "repository:buildsets/own-1/docker.io/x/y:pull,push"},
		{own, Repository("buildsets/own-1", "push"), "repository:buildsets/own-1:push"},
		{own, r("buildsets/base/x/y", "pull", "push"), "repository:buildsets/base/docker.io/x/y:pull"},
		{own, Repository("buildsets/base", "pull", "push"), "repository:buildsets/base:pull"},
		{own, r("buildsets/secret/x/y", "pull"), "repository:buildsets/secret/docker.io/x/y:"},
		{own, r("x/y", "pull"), "repository:docker.io/x/y:"},
		{own, Repository("buildsets", "pull"), "repository:buildsets:"},
		{ownTeam, r("buildsets/base/team/app", "pull"), "repository:buildsets/base/docker.io/team/app:pull"},
		{ownTeam, r("buildsets/base/other/app", "pull"), "repository:buildsets/base/docker.io/other/app:"},
		// Bound identities: write their buildset, read its chain and the
		// shared area, never every buildset.
		{boundC, r("buildsets/c/x/y", "pull", "push", "delete"), "repository:buildsets/c/docker.io/x/y:pull,push,delete"},
		{boundC, r("buildsets/a/x/y", "pull", "push"), "repository:buildsets/a/docker.io/x/y:pull"},
		{boundC, r("buildsets/z/x/y", "pull"), "repository:buildsets/z/docker.io/x/y:"},
		{boundC, r("x/y", "pull", "push"), "repository:docker.io/x/y:pull"},
		{boundC, Repository("buildsets/c", "pull", "delete"), "repository:buildsets/c:pull,delete"},
		{boundC, Repository("buildsets/b", "delete"), "repository:buildsets/b:"},
		{boundC, Repository("buildsets", "pull", "delete"), "repository:buildsets:"},
		{boundApp, r("buildsets/c/org/app", "push"), "repository:buildsets/c/docker.io/org/app:push"},
		{boundApp, r("buildsets/c/org/other", "pull"), "repository:buildsets/c/docker.io/org/other:"},
	}
	for _, tt := range tests {
		g, err := tt.p.grant(&decider{ctx: context.Background(), chains: chains}, tt.in)
		if got := g.String(); err != nil || got != tt.want {
			t.Errorf("%+v.grant(%s) = %s, %v; want %s", tt.p, tt.in, got, err, tt.want)
		}
	}
	// A chain that cannot be read fails the decision, never narrows it.
	bad := newPolicy(User{Access: AccessRead, Buildset: "broken"}, names)
	if _, err := bad.grant(&decider{ctx: context.Background(), chains: chains}, r("buildsets/a/x", "pull")); err == nil {
		t.Error("a chain lookup that failed was taken for an empty chain")
	}
}

func TestParseResourceRepository(t *testing.T) {
	for name, want := range map[string]resource{
		"docker.io/library/alpine":                {repository: "docker.io/library/alpine"},
		"buildsets/b1/docker.io/library/alpine":   {buildset: "b1", repository: "docker.io/library/alpine"},
		"buildsets/b1.x-2/localhost:5000/team/ap": {buildset: "b1.x-2", repository: "localhost:5000/team/ap"},
		"buildsets/b1":                            {buildset: "b1"},
		"buildsets":                               {all: true},
	} {
		got, ok := parseResource(name)
		want.canonical = name
		if !ok || got != want {
			t.Errorf("parseResource(%q) = %+v, %v; want %+v", name, got, ok, want)
		}
	}
	if _, ok := parseResource("alpine"); ok {
		t.Error("parseResource took a name that is not canonical")
	}
}
