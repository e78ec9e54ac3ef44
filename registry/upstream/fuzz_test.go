package upstream

import "testing"

// FuzzParseChallenges: any WWW-Authenticate value parses without a panic,
// into challenges that each have a scheme.
func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`,
		`Basic realm="x", Bearer realm="y"`, `Bearer realm="a\"b",scope="repository:a:pull,push"`, `,,,`, `Bearer`, `Bearer realm=`, `"`, `Bearer realm="unterminated`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, c := range parseChallenges([]string{v}) {
			if c.scheme == "" {
				t.Fatalf("parseChallenges(%q): a challenge without a scheme", v)
			}
		}
	})
}
