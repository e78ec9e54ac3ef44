package auth

import (
	"slices"
	"strings"
)

// policy is what one identity may do: the rights of a configured user, or of
// anonymous clients when anonymous is "read". It is the single place where
// rights are decided; tokens merely carry its answers.
type policy struct {
	pull     bool     // the zero policy allows nothing
	write    bool     // push and delete as well
	prefixes []string // repository-name prefixes without a trailing "/"; none = every repository
}

// anonymousPolicy is what anonymous clients get with anonymous "read".
var anonymousPolicy = policy{pull: true}

func newPolicy(u User) policy {
	p := policy{pull: true, write: u.Access == AccessWrite}
	for _, pre := range u.Prefixes {
		p.prefixes = append(p.prefixes, strings.Trim(pre, "/"))
	}
	return p
}

// grant returns the part of a that p allows: the same resource with the
// allowed actions only (possibly none). `*` on a repository is answered with
// the actions it stands for, so that a read user asking for `*` gets `pull`.
func (p policy) grant(a Access) Access {
	out := Access{Type: a.Type, Name: a.Name, Actions: []string{}}
	if !p.pull {
		return out
	}
	switch a.Type {
	case TypeRepository:
		if !validRepository(a.Name) || !p.matches(a.Name) {
			return out
		}
		want := expand(a)
		for _, act := range repositoryActions {
			if want[act] && (act == ActionPull || p.write) {
				out.Actions = append(out.Actions, act)
			}
		}
	case TypeRegistry:
		// Every identity that got this far may list the catalog; a handler
		// that wants to hide repositories outside a user's prefixes filters
		// the list with Identity.Permits.
		if a.Name == catalogName && slices.Contains(a.Actions, ActionAll) {
			out.Actions = append(out.Actions, ActionAll)
		}
	}
	return out
}

// grants answers a whole request: one entry per resource that got at least
// one action, in the order asked.
func (p policy) grants(want []Access) []Access {
	out := []Access{}
	for _, a := range merge(want) {
		if g := p.grant(a); len(g.Actions) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// permits reports whether p allows every action of every access in want.
func (p policy) permits(want []Access) bool {
	return covers(p.grants(want), want)
}

// matches reports whether repository name lies under one of p's prefixes,
// comparing whole path components: prefix "team" matches "team" and
// "team/app" but not "teamx/app".
func (p policy) matches(name string) bool {
	if len(p.prefixes) == 0 {
		return true
	}
	for _, pre := range p.prefixes {
		if name == pre || strings.HasPrefix(name, pre+"/") {
			return true
		}
	}
	return false
}

// validRepository reports whether name is a repository name that rights can
// be decided for. It is deliberately wider than the OCI name grammar: names
// under zuul-registry's naming may carry a registry host with a port
// ("localhost:5000/foo") and upper case is the HTTP layer's business, but
// empty, "." and ".." components could make a name escape its prefix once a
// later layer cleans the path, so they are refused here.
func validRepository(name string) bool {
	if name == "" || len(name) > 4096 {
		return false
	}
	for comp := range strings.SplitSeq(name, "/") {
		if comp == "" || comp == "." || comp == ".." {
			return false
		}
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == '/', c == ':':
		default:
			return false
		}
	}
	return true
}
