package auth

import (
	"context"
	"slices"
	"strings"

	"github.com/shadowreg/shadowreg/internal/ref"
)

// policy is what one identity may do: the rights of a configured user, of a
// buildset's credentials, or of anonymous clients when anonymous is "read".
// It is the single place where rights are decided; tokens merely carry its
// answers. It decides on canonical names only (ref): every spelling of a
// repository, ?ns= and the caller's buildset have been resolved before a
// decision is asked for, so that what is decided on is what is read or
// written.
//
// The rules, for a repository's canonical name N (or a buildset's,
// buildsets/<id>, or every buildset's, buildsets):
//
//   - pull needs read access, push and delete write access;
//   - a user limited to prefixes needs one that covers N; a read in
//     buildset B is also allowed when B is in the overlay chain of a
//     buildset a prefix names (buildsets/<id>[/<rest>]) and the rest covers
//     the repository: what the user reads through <id> anyway;
//   - an identity bound to buildset X (its credentials, or auth.users[].
//     buildset) writes only in X, reads in X, the buildsets of X's overlay
//     chain and the shared area, and never acts on every buildset; its
//     prefixes, if any, limit the repositories it reaches inside those.
type policy struct {
	pull     bool     // the zero policy allows nothing
	write    bool     // push and delete as well
	prefixes []string // canonical (ref.Names.Prefix); none = every repository
	bound    string   // the buildset the identity is bound to; "" none
}

// anonymousPolicy is what anonymous clients get with anonymous "read".
var anonymousPolicy = policy{pull: true}

// newPolicy makes u's policy; Validate has checked its prefixes.
func newPolicy(u User, names ref.Names) policy {
	p := policy{pull: true, write: u.Access == AccessWrite, bound: u.Buildset}
	for _, pre := range u.Prefixes {
		if c, err := names.Prefix(pre); err == nil {
			p.prefixes = append(p.prefixes, c)
		} else {
			// Cannot happen after Validate; fail closed: a prefix nothing
			// matches rather than none, which would allow everything.
			p.prefixes = append(p.prefixes, "\x00invalid")
		}
	}
	return p
}

// Chains tells which buildsets a buildset reads through. The buildset
// manager implements it.
type Chains interface {
	// Chain lists the ids of buildset id's overlay chain: id itself, then
	// its parents in order, each followed by its own. A buildset that does
	// not exist (or expired) has an empty chain; any other error (storage
	// out of reach) is returned, and the request fails rather than be
	// decided on a shorter chain.
	Chain(ctx context.Context, id string) ([]string, error)
}

// resource is a canonical name split into what the rules look at.
type resource struct {
	all        bool   // every buildset (ref.AllBuildsets)
	buildset   string // the buildset it lies in; "" for the shared area
	repository string // namespace/path; "" for a whole buildset
	canonical  string
}

func parseResource(name string) (resource, bool) {
	if name == ref.AllBuildsets {
		return resource{all: true, canonical: name}, true
	}
	if t, ok := ref.ParseCanonical(name); ok {
		// The repository is what follows buildsets/<id>/, if anything:
		// t.Repository() without building it again.
		repository := name
		if t.Buildset != "" {
			repository = name[len(ref.BuildsetResource(""))+len(t.Buildset)+1:]
		}
		return resource{buildset: t.Buildset, repository: repository, canonical: name}, true
	}
	if id, ok := strings.CutPrefix(name, ref.BuildsetResource("")); ok && ref.ValidBuildsetID(id) {
		return resource{buildset: id, canonical: name}, true
	}
	return resource{}, false
}

// decider evaluates policies for one request, looking buildset chains up
// at most once each.
type decider struct {
	ctx    context.Context
	chains Chains
	seen   map[string][]string
}

func (d *decider) chain(id string) ([]string, error) {
	if c, ok := d.seen[id]; ok {
		return c, nil
	}
	var c []string
	if d.chains != nil {
		var err error
		if c, err = d.chains.Chain(d.ctx, id); err != nil {
			return nil, err
		}
	} else {
		c = []string{id} // no buildset manager: a buildset reads only itself
	}
	if d.seen == nil {
		d.seen = map[string][]string{}
	}
	d.seen[id] = c
	return c, nil
}

// grant returns the part of a that p allows: the same resource with the
// allowed actions only (possibly none). `*` on a repository is answered with
// the actions it stands for, so that a read user asking for `*` gets `pull`.
func (p policy) grant(d *decider, a Access) (Access, error) {
	out := Access{Type: a.Type, Name: a.Name, Actions: []string{}}
	if !p.pull {
		return out, nil
	}
	switch a.Type {
	case TypeRepository:
		res, ok := parseResource(a.Name)
		if !ok {
			return out, nil // not canonical: nothing is decided on a spelling
		}
		for _, act := range repositoryActions {
			if !asksFor(a, act) || (act != ActionPull && !p.write) {
				continue
			}
			ok, err := p.allows(d, res, act == ActionPull)
			if err != nil {
				return out, err
			}
			if ok {
				out.Actions = append(out.Actions, act)
			}
		}
	case TypeRegistry:
		// Every identity that got this far may list the catalog; the
		// handler leaves out what the identity may not pull.
		if a.Name == catalogName && slices.Contains(a.Actions, ActionAll) {
			out.Actions = append(out.Actions, ActionAll)
		}
	}
	return out, nil
}

// allows decides one access to res: a read (pull) or a write (push, delete).
func (p policy) allows(d *decider, res resource, read bool) (bool, error) {
	if p.bound != "" {
		return p.allowsBound(d, res, read)
	}
	for _, pre := range p.prefixes {
		if ref.Covers(pre, res.canonical) {
			return true, nil
		}
	}
	if len(p.prefixes) == 0 {
		return true, nil
	}
	if !read || res.all || res.buildset == "" {
		return false, nil
	}
	// A read in a buildset that one the user may read falls through.
	for _, pre := range p.prefixes {
		id, rest, ok := splitBuildsetPrefix(pre)
		if !ok || (rest != "" && !ref.Covers(rest, res.repository)) {
			continue
		}
		c, err := d.chain(id)
		if err != nil {
			return false, err
		}
		if slices.Contains(c, res.buildset) {
			return true, nil
		}
	}
	return false, nil
}

func (p policy) allowsBound(d *decider, res resource, read bool) (bool, error) {
	switch {
	case res.all:
		return false, nil
	case res.buildset == p.bound:
	case !read:
		return false, nil // writes stay in the identity's own buildset
	case res.buildset == "":
		// The shared area: the end of every overlay chain.
	default:
		c, err := d.chain(p.bound)
		if err != nil {
			return false, err
		}
		if !slices.Contains(c, res.buildset) {
			return false, nil
		}
	}
	if len(p.prefixes) == 0 || res.repository == "" {
		return true, nil
	}
	for _, pre := range p.prefixes {
		if ref.Covers(pre, res.repository) {
			return true, nil
		}
	}
	return false, nil
}

// splitBuildsetPrefix splits a canonical buildset prefix,
// buildsets/<id>[/<rest>], into the id and the rest.
func splitBuildsetPrefix(pre string) (id, rest string, ok bool) {
	after, ok := strings.CutPrefix(pre, ref.BuildsetResource(""))
	if !ok || after == "" {
		return "", "", false
	}
	id, rest, _ = strings.Cut(after, "/")
	return id, rest, true
}

// grants answers a whole request: one entry per resource that got at least
// one action, in the order asked.
func (p policy) grants(d *decider, want []Access) ([]Access, error) {
	out := []Access{}
	for _, a := range merge(want) {
		g, err := p.grant(d, a)
		if err != nil {
			return nil, err
		}
		if len(g.Actions) > 0 {
			out = append(out, g)
		}
	}
	return out, nil
}

// permits reports whether p allows every action of every access in want.
func (p policy) permits(d *decider, want []Access) (bool, error) {
	g, err := p.grants(d, want)
	if err != nil {
		return false, err
	}
	return covers(g, want), nil
}

// validPrefix reports whether a configured prefix canonicalizes.
func validPrefix(pre string) bool {
	_, err := ref.Names{}.Prefix(pre)
	return err == nil
}
