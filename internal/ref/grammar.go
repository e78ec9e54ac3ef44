package ref

// The name grammar, matched by hand: these run on every request (a name is
// resolved, then decided on in canonical form), where the regular
// expressions they replace cost more than the rest of the name handling.
// grammar_test.go checks each against the regular expression it stands for.

// validPathComponent matches distribution's path component,
// [a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*: runs of lower-case letters and
// digits joined by ".", "_", "__" or one or more "-".
func validPathComponent(c string) bool {
	i := 0
	for {
		start := i
		for i < len(c) && isLowerAlnum(c[i]) {
			i++
		}
		if i == start {
			return false // empty run: at the start, the end, or between separators
		}
		if i == len(c) {
			return true
		}
		sep := i
		for i < len(c) && !isLowerAlnum(c[i]) {
			i++
		}
		if !validSeparator(c[sep:i]) {
			return false
		}
	}
}

func validSeparator(s string) bool {
	switch s {
	case ".", "_", "__":
		return true
	}
	for i := range len(s) {
		if s[i] != '-' {
			return false
		}
	}
	return s != ""
}

// validHost matches a host name with an optional port: labels of letters,
// digits and inner "-" joined by ".", then optionally ":" and digits.
func validHost(h string) bool {
	name, port := h, ""
	for i := range len(h) {
		if h[i] == ':' {
			name, port = h[:i], h[i+1:]
			if port == "" {
				return false
			}
			break
		}
	}
	for i := range len(port) {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			continue
		}
		if !validLabel(name[start:i]) {
			return false
		}
		start = i + 1
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := range len(l) {
		if !isAlnum(l[i]) && l[i] != '-' {
			return false
		}
	}
	return true
}

// validTag matches the OCI tag grammar, [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func validTag(t string) bool {
	if t == "" || len(t) > 128 || !(isAlnum(t[0]) || t[0] == '_') {
		return false
	}
	for i := 1; i < len(t); i++ {
		if c := t[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validBuildsetID matches [a-z0-9][a-z0-9._-]{0,63}.
func validBuildsetID(id string) bool {
	if id == "" || len(id) > 64 || !isLowerAlnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isLowerAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }
