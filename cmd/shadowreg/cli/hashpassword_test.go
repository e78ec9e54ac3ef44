package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shadowreg/shadowreg/registry/auth"
)

// run runs the command line with stdin, returning stdout and the error.
func runWithStdin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestHashPassword(t *testing.T) {
	out, err := runWithStdin(t, "hunter2\n", "hash-password", "--cost", "4")
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSuffix(out, "\n")
	if strings.Contains(hash, "\n") || !strings.HasPrefix(hash, "$2a$04$") {
		t.Fatalf("printed %q, want one bcrypt hash of cost 4", out)
	}
	// The line ending is not part of the password; the hash validates as
	// a configuration's password.
	if err := auth.CheckPasswordHash(hash, "hunter2"); err != nil {
		t.Errorf("the hash does not match the password: %v", err)
	}
	cfg := auth.Config{Secret: "0123456789abcdef0", Users: []auth.User{{Name: "u", Password: hash, Access: auth.AccessRead}}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the configuration refuses the hash: %v", err)
	}
	if _, err := runWithStdin(t, "hunter2\r\n", "hash-password", "--check", hash); err != nil {
		t.Errorf("--check with the right password: %v", err)
	}
	if _, err := runWithStdin(t, "hunter3\n", "hash-password", "--check", hash); err == nil {
		t.Error("--check with a wrong password succeeded")
	}
	if _, err := runWithStdin(t, "x", "hash-password", "--check", "*0"); err == nil || !strings.Contains(err.Error(), "not a bcrypt hash") {
		t.Errorf("--check '*0': %v, want not a bcrypt hash", err)
	}
	if _, err := runWithStdin(t, "", "hash-password"); err == nil || !strings.Contains(err.Error(), "no password on stdin") {
		t.Errorf("empty stdin: %v", err)
	}
}
