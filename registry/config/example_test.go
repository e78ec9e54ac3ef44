package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The example configuration must load, validate, and mention every key the
// Config type has: it is the documentation of the configuration.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("config.example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range keysOf(reflect.TypeOf(Config{}), "") {
		if !present(doc, strings.Split(key, ".")) {
			t.Errorf("config.example.yaml does not document %s", key)
		}
	}
}

// keysOf lists the dotted yaml keys of a struct type; maps (upstreams) are
// documented through one example entry, keyed "*".
func keysOf(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			out = append(out, keysOf(f.Type, prefix)...)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft.PkgPath() != "time":
			out = append(out, keysOf(ft, key+".")...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(out, keysOf(ft.Elem(), key+".*.")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, keysOf(ft.Elem(), key+".[].")...)
		default:
			out = append(out, key)
		}
	}
	return out
}

// present reports whether the yaml document has a value at path; "*" is
// any map entry and "[]" any list element.
func present(v any, path []string) bool {
	if len(path) == 0 {
		return true
	}
	switch n := v.(type) {
	case map[string]any:
		if path[0] == "*" {
			for _, child := range n {
				if present(child, path[1:]) {
					return true
				}
			}
			return false
		}
		child, ok := n[path[0]]
		return ok && present(child, path[1:])
	case []any:
		if path[0] != "[]" {
			return false
		}
		for _, child := range n {
			if present(child, path[1:]) {
				return true
			}
		}
	}
	return false
}
