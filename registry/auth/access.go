package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Resource types and actions of Docker's token scopes (distribution's
// spec/auth/scope.md).
const (
	TypeRepository = "repository"
	TypeRegistry   = "registry"

	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionAll    = "*"

	// catalogName is the only registry-type resource: `registry:catalog:*`.
	catalogName = "catalog"
)

// repositoryActions is the canonical order of repository actions: grants and
// challenges list them in this order, so "pull,push" reads as clients write it.
var repositoryActions = []string{ActionPull, ActionPush, ActionDelete}

// Access is one resource and the actions wanted on it, or granted in a token's
// `access` claim, in Docker's JSON form:
// {"type":"repository","name":"library/alpine","actions":["pull","push"]}.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Repository is the Access to repository name for actions (pull, push, delete).
func Repository(name string, actions ...string) Access {
	return Access{Type: TypeRepository, Name: name, Actions: actions}
}

// Catalog is the Access that GET /v2/_catalog needs: `registry:catalog:*`.
func Catalog() Access {
	return Access{Type: TypeRegistry, Name: catalogName, Actions: []string{ActionAll}}
}

// String formats a in scope syntax, `repository:library/alpine:pull,push`,
// as used in the scope parameter of the token endpoint and of challenges.
func (a Access) String() string {
	return a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
}

// ParseScope parses one scope, `type[(class)]:name:action[,action...]`.
//
// The name may itself contain colons (a registry host with a port under the
// zuul-registry naming, `repository:localhost:5000/foo:pull`), so the type
// ends at the first colon and the actions start after the last. A resource
// class (`repository(plugin)`, sent by docker for plugins) is dropped: it does
// not change what may be done with the repository. Actions are de-duplicated;
// an empty action list is allowed and simply grants nothing.
func ParseScope(scope string) (Access, error) {
	first := strings.IndexByte(scope, ':')
	last := strings.LastIndexByte(scope, ':')
	if first < 0 || first == last {
		return Access{}, fmt.Errorf("invalid scope %q: want type:name:actions", scope)
	}
	typ, name, actions := scope[:first], scope[first+1:last], scope[last+1:]
	if i := strings.IndexByte(typ, '('); i >= 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:i]
	}
	if typ == "" || name == "" {
		return Access{}, fmt.Errorf("invalid scope %q: empty type or name", scope)
	}
	a := Access{Type: typ, Name: name, Actions: []string{}}
	for act := range strings.SplitSeq(actions, ",") {
		if act = strings.TrimSpace(act); act != "" && !slices.Contains(a.Actions, act) {
			a.Actions = append(a.Actions, act)
		}
	}
	return a, nil
}

// ParseScopes parses the values of the `scope` parameters of a token request:
// each value may hold several scopes separated by spaces (the OAuth2 form that
// docker uses in POST requests), and the parameter may repeat (the GET form).
// Scopes that do not parse are returned as errors next to the ones that did,
// so that the token endpoint can grant what it understood and log the rest.
func ParseScopes(values []string) ([]Access, []error) {
	var out []Access
	var errs []error
	for _, v := range values {
		for s := range strings.FieldsSeq(v) {
			a, err := ParseScope(s)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, a)
		}
	}
	return out, errs
}

// merge combines accesses to the same resource into one, keeping the first
// occurrence's position: a token then lists every resource once.
// A list of one is returned as it is (most requests want one access):
// callers never change what merge returns.
func merge(list []Access) []Access {
	if len(list) <= 1 {
		return list
	}
	out := make([]Access, 0, len(list))
	for _, a := range list {
		i := slices.IndexFunc(out, func(b Access) bool { return b.Type == a.Type && b.Name == a.Name })
		if i < 0 {
			out = append(out, Access{Type: a.Type, Name: a.Name, Actions: slices.Clone(a.Actions)})
			continue
		}
		for _, act := range a.Actions {
			if !slices.Contains(out[i].Actions, act) {
				out[i].Actions = append(out[i].Actions, act)
			}
		}
	}
	return out
}

// expand returns the actions of a as a set, with `*` on a repository standing
// for every repository action, so that a grant of `*` covers a want of
// `pull` and a grant of pull,push,delete covers a want of `*`.
func expand(a Access) map[string]bool {
	set := make(map[string]bool, len(a.Actions))
	for _, act := range a.Actions {
		if act == ActionAll && a.Type == TypeRepository {
			for _, r := range repositoryActions {
				set[r] = true
			}
			continue
		}
		set[act] = true
	}
	return set
}

// covers reports whether the accesses in granted allow every action of every
// access in want. Grants for the same resource may be split over several
// entries (tokens from other issuers do that), so actions are pooled per
// resource first.
func covers(granted, want []Access) bool { return coversMerged(merge(granted), want) }

// coversMerged is covers for grants already pooled per resource (merge).
func coversMerged(pooled, want []Access) bool {
	for _, w := range want {
		i := slices.IndexFunc(pooled, func(g Access) bool { return g.Type == w.Type && g.Name == w.Name })
		if i < 0 {
			if len(w.Actions) == 0 {
				continue
			}
			return false
		}
		have, okHave := actionsOf(pooled[i])
		need, okNeed := actionsOf(w)
		if okHave && okNeed {
			if need&^have != 0 {
				return false
			}
			continue
		}
		// An action outside the known ones: compare them as strings.
		set := expand(pooled[i])
		for act := range expand(w) {
			if !set[act] {
				return false
			}
		}
	}
	return true
}

// asksFor reports whether a asks for the repository action act, as
// expand(a)[act] does, without a map for the actions requests use.
func asksFor(a Access, act string) bool {
	if set, ok := actionsOf(a); ok {
		bit, _ := actionsOf(Access{Type: TypeRepository, Actions: []string{act}})
		return bit != 0 && set&bit == bit
	}
	return expand(a)[act]
}

// actionSet is expand's set for the actions requests ask for, as bits.
type actionSet uint8

const (
	pullBit actionSet = 1 << iota
	pushBit
	deleteBit
	starBit // `*` on a resource other than a repository (the catalog)
)

// actionsOf is expand(a) as an actionSet; ok is false when a holds an
// action that has no bit.
func actionsOf(a Access) (set actionSet, ok bool) {
	for _, act := range a.Actions {
		switch act {
		case ActionPull:
			set |= pullBit
		case ActionPush:
			set |= pushBit
		case ActionDelete:
			set |= deleteBit
		case ActionAll:
			if a.Type == TypeRepository {
				set |= pullBit | pushBit | deleteBit
			} else {
				set |= starBit
			}
		default:
			return 0, false
		}
	}
	return set, true
}

// scopeList formats want as the value of a challenge's scope parameter:
// scopes separated by spaces, one per resource, actions in canonical order.
func scopeList(want []Access) string {
	parts := make([]string, 0, len(want))
	for _, a := range merge(want) {
		if len(a.Actions) == 0 {
			continue
		}
		a.Actions = canonical(a)
		parts = append(parts, a.String())
	}
	return strings.Join(parts, " ")
}

// canonical orders repository actions pull, push, delete (then anything
// else, as given), which is how clients and distribution write them.
func canonical(a Access) []string {
	if a.Type != TypeRepository {
		return a.Actions
	}
	out := make([]string, 0, len(a.Actions))
	for _, r := range append(slices.Clone(repositoryActions), ActionAll) {
		if slices.Contains(a.Actions, r) {
			out = append(out, r)
		}
	}
	for _, act := range a.Actions {
		if !slices.Contains(out, act) {
			out = append(out, act)
		}
	}
	return out
}
