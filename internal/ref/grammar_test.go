package ref

import (
	"regexp"
	"testing"
)

// The regular expressions the hand-written matchers of grammar.go stand
// for (distribution's reference grammar and shadowreg's buildset ids).
var grammarOracles = []struct {
	name  string
	re    *regexp.Regexp
	match func(string) bool
}{
	{"path component", regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`), validPathComponent},
	{"host", regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$`), validHost},
	{"tag", regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`), validTag},
	{"buildset id", regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`), validBuildsetID},
}

func checkGrammar(t *testing.T, s string) {
	t.Helper()
	for _, o := range grammarOracles {
		if got, want := o.match(s), o.re.MatchString(s); got != want {
			t.Errorf("%s %q: matcher says %v, regexp %v", o.name, s, got, want)
		}
	}
}

// Every string of up to 5 characters over an alphabet with one character
// of each class the grammars tell apart, and longer edge cases.
func TestGrammarMatchesRegexps(t *testing.T) {
	const alphabet = "aZ0._-:/\n\xc3"
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		checkGrammar(t, prefix)
		if depth == 0 || t.Failed() {
			return
		}
		for i := range len(alphabet) {
			walk(prefix+alphabet[i:i+1], depth-1)
		}
	}
	walk("", 5)
	long := func(n int, c string) string {
		s := ""
		for range n {
			s += c
		}
		return s
	}
	for _, s := range []string{
		"a" + long(127, "b"), "a" + long(128, "b"), "_" + long(127, "-"), long(64, "a"), long(65, "a"),
		"registry-1.docker.io", "localhost:5000", "a.b.c:0123", "a..b", "a.-b", "a-.b", "a___b", "a--b",
		"library", "my_app__x", "x.y-z", "A:5000:1", "a:", ":5000", "_", "-a", "a-",
	} {
		checkGrammar(t, s)
	}
}

func FuzzGrammar(f *testing.F) {
	for _, s := range []string{"library", "docker.io", "localhost:5000", "v1.0", "a__b", "a-.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkGrammar(t, s) })
}
