// Package e2e runs the shadowreg binary as a real process and drives it with
// real clients (skopeo, crane, regctl, oras), the OCI distribution-spec
// conformance suite, and crash/concurrency scenarios.
//
// Environment:
//
//	SHADOWREG_BIN         the shadowreg binary to test (default: built once from ./cmd/shadowreg)
//	SHADOWREG_TOOLS       directory of the Go tools built by tools/install.sh (default: <repo>/.cache/bin)
//	SHADOWREG_E2E_TARGET  "shadowreg" (default) or "reference": run the same tests against the
//	                      reference registry (distribution v3) to validate the tests themselves
//	SHADOWREG_E2E_SEED    seed for the randomized crash tests (default: fixed)
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	targetShadowreg = "shadowreg"
	targetReference = "reference"
)

var (
	repoRoot  string // the module root (where go.mod is)
	toolsDir  string // SHADOWREG_TOOLS
	serverBin string // the binary under test
	target    string // targetShadowreg or targetReference
	// setupErr is reported by every test that needs a server when the binary
	// could not be found or built (so that a broken build shows up as failed
	// tests with a clear message, not as a crashed test binary).
	setupErr error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	repoRoot, err = findRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	toolsDir = os.Getenv("SHADOWREG_TOOLS")
	if toolsDir == "" {
		toolsDir = filepath.Join(repoRoot, ".cache", "bin")
	}
	target = os.Getenv("SHADOWREG_E2E_TARGET")
	if target == "" {
		target = targetShadowreg
	}
	switch target {
	case targetShadowreg:
		serverBin = os.Getenv("SHADOWREG_BIN")
		if serverBin == "" {
			tmp, err := os.MkdirTemp("", "shadowreg-e2e-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, "e2e:", err)
				return 2
			}
			defer os.RemoveAll(tmp)
			serverBin = filepath.Join(tmp, "shadowreg")
			cmd := exec.Command("go", "build", "-o", serverBin, "./cmd/shadowreg")
			cmd.Dir = repoRoot
			if out, err := cmd.CombinedOutput(); err != nil {
				setupErr = fmt.Errorf("go build ./cmd/shadowreg failed (set SHADOWREG_BIN to use a prebuilt binary): %v\n%s", err, out)
			}
		} else if _, err := os.Stat(serverBin); err != nil {
			setupErr = fmt.Errorf("SHADOWREG_BIN=%s: %v", serverBin, err)
		}
	case targetReference:
		serverBin = filepath.Join(toolsDir, "registry")
		if _, err := os.Stat(serverBin); err != nil {
			setupErr = fmt.Errorf("reference registry not found at %s: run tools/install.sh registry", serverBin)
		}
	default:
		fmt.Fprintf(os.Stderr, "e2e: SHADOWREG_E2E_TARGET=%q: want %q or %q\n", target, targetShadowreg, targetReference)
		return 2
	}
	return m.Run()
}

func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/shadowreg/shadowreg") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod of github.com/shadowreg/shadowreg not found above the working directory")
		}
		dir = parent
	}
}

// isReference reports whether the tests run against the reference registry.
func isReference() bool { return target == targetReference }
