package auth

import (
	"reflect"
	"testing"
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

func TestPolicyGrant(t *testing.T) {
	reader := newPolicy(User{Access: AccessRead})
	writer := newPolicy(User{Access: AccessWrite})
	team := newPolicy(User{Access: AccessWrite, Prefixes: []string{"team/", "/infra", "quay.io/org"}})
	tests := []struct {
		p    policy
		in   Access
		want string
	}{
		{reader, Repository("a", "pull", "push", "delete"), "repository:a:pull"},
		{reader, Repository("a", "*"), "repository:a:pull"},
		{reader, Repository("a", "push"), "repository:a:"},
		{writer, Repository("a", "delete", "push", "pull"), "repository:a:pull,push,delete"},
		{writer, Repository("a", "*"), "repository:a:pull,push,delete"},
		{writer, Repository("a", "frobnicate"), "repository:a:"},
		{writer, Catalog(), "registry:catalog:*"},
		{reader, Catalog(), "registry:catalog:*"},
		{anonymousPolicy, Catalog(), "registry:catalog:*"},
		{anonymousPolicy, Repository("a", "pull", "push"), "repository:a:pull"},
		{writer, Access{Type: "registry", Name: "other", Actions: []string{"*"}}, "registry:other:"},
		{writer, Access{Type: "registry", Name: "catalog", Actions: []string{"pull"}}, "registry:catalog:"},
		{writer, Access{Type: "nonsense", Name: "a", Actions: []string{"pull"}}, "nonsense:a:"},
		{team, Repository("team", "push"), "repository:team:push"},
		{team, Repository("team/app", "push"), "repository:team/app:push"},
		{team, Repository("team/a/b", "push"), "repository:team/a/b:push"},
		{team, Repository("teamx/app", "pull", "push"), "repository:teamx/app:"},
		{team, Repository("infra/x", "pull"), "repository:infra/x:pull"},
		{team, Repository("quay.io/org/img", "pull"), "repository:quay.io/org/img:pull"},
		{team, Repository("quay.io/organisation/img", "pull"), "repository:quay.io/organisation/img:"},
		{team, Repository("library/alpine", "pull"), "repository:library/alpine:"},
		{team, Catalog(), "registry:catalog:*"},
		// Names that could escape a prefix once a path is cleaned.
		{team, Repository("team/../other", "pull"), "repository:team/../other:"},
		{writer, Repository("team//app", "pull"), "repository:team//app:"},
		{writer, Repository("/app", "pull"), "repository:/app:"},
		{writer, Repository("app/", "pull"), "repository:app/:"},
		{writer, Repository("a b", "pull"), "repository:a b:"},
		{writer, Repository("localhost:5000/foo", "pull"), "repository:localhost:5000/foo:pull"},
		{policy{}, Repository("a", "pull"), "repository:a:"},
		{policy{}, Catalog(), "registry:catalog:"},
	}
	for _, tt := range tests {
		if got := tt.p.grant(tt.in).String(); got != tt.want {
			t.Errorf("%+v.grant(%s) = %s, want %s", tt.p, tt.in, got, tt.want)
		}
	}
}
