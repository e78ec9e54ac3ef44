package e2e

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	// conformanceTests is how many tests the suite (pinned in
	// tools/install.sh) runs with its default settings.
	conformanceTests = 852
	// referenceFailures is how many of them distribution v3.1.2 fails (68
	// sha512, 14 referrers/subject, 7 non-distributable layers, 1 empty
	// referrers, and one more count from the same cases).
	referenceFailures  = 91
	conformanceTimeout = 10 * time.Minute
)

// junit.xml as written by the conformance suite.
type junitSuites struct {
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Disabled int          `xml:"disabled,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Disabled int         `xml:"disabled,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string `xml:"name,attr"`
	Status    string `xml:"status,attr"`
	SystemOut string `xml:"system-out"`
	SystemErr string `xml:"system-err"`
}

type conformanceCounts struct {
	Total, Passed, Failed, Errors, Skipped, Disabled int
}

func (c conformanceCounts) String() string {
	return fmt.Sprintf("%d total, %d passed, %d failed, %d errors, %d skipped, %d disabled",
		c.Total, c.Passed, c.Failed, c.Errors, c.Skipped, c.Disabled)
}

// TestConformance runs the OCI distribution-spec conformance suite with its
// default settings (distribution-spec 1.1, every API and data type) against
// a fresh server. Any failed test, or fewer tests than expected, fails.
// The reports are copied to <repo>/.cache/conformance/<target>/.
func TestConformance(t *testing.T) {
	t.Parallel()
	requireTool(t, "oci-conformance")
	srv := startServer(t)
	runConformance(t, srv, target)
}

// runConformance runs the suite with its default settings against srv and
// fails t on any failed case or fewer tests than expected. label names the
// run in the "OCI conformance (<label>): …" line and the report folder,
// <repo>/.cache/conformance/<label>/.
func runConformance(t *testing.T, srv *Server, label string) conformanceCounts {
	t.Helper()
	bin := requireTool(t, "oci-conformance")
	res := t.TempDir()

	// Defaults only: drop any OCI_* the caller may have set, and run in an
	// empty directory (the suite reads ./oci-conformance.yaml if present).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCI_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"OCI_REGISTRY="+srv.Addr,
		"OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_RESULTS_DIR="+res,
		"OCI_VERSION=1.1",
	)
	ctx, cancel := context.WithTimeout(context.Background(), conformanceTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = res
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("oci-conformance ran in %.1fs (exit: %v)", time.Since(start).Seconds(), runErr)
	if ctx.Err() != nil {
		t.Fatalf("oci-conformance timed out after %v\nstderr:\n%s", conformanceTimeout, clip(stderr.String()))
	}
	_ = os.WriteFile(filepath.Join(res, "stdout.txt"), stdout.Bytes(), 0o644)
	_ = os.WriteFile(filepath.Join(res, "stderr.txt"), stderr.Bytes(), 0o644)
	keep := filepath.Join(repoRoot, ".cache", "conformance", label)
	if err := copyDir(res, keep); err != nil {
		t.Logf("copying the reports to %s: %v", keep, err)
	} else {
		t.Logf("conformance reports: %s/{report.html,junit.xml,results.yaml,stdout.txt}", keep)
	}

	junit, err := os.ReadFile(filepath.Join(res, "junit.xml"))
	if err != nil {
		t.Fatalf("the suite wrote no junit.xml (%v); exit: %v\nstdout:\n%s\nstderr:\n%s", err, runErr, clip(stdout.String()), clip(stderr.String()))
	}
	var js junitSuites
	if err := xml.Unmarshal(junit, &js); err != nil {
		t.Fatalf("parsing junit.xml: %v", err)
	}
	c := conformanceCounts{Total: js.Tests, Failed: js.Failures, Errors: js.Errors, Skipped: js.Skipped, Disabled: js.Disabled}
	c.Passed = c.Total - c.Failed - c.Errors - c.Skipped - c.Disabled
	t.Logf("OCI conformance (%s): %s", label, c)
	fmt.Printf("OCI conformance (%s): %s\n", label, c) // also in go test -json output as a plain line

	var failing, skipped []string
	for _, s := range js.Suites {
		for _, tc := range s.Cases {
			msg := strings.TrimSpace(tc.SystemOut)
			switch tc.Status {
			case "failure", "error":
				failing = append(failing, fmt.Sprintf("[%s] %s\n      %s", tc.Status, tc.Name, strings.ReplaceAll(clipLine(msg, 1500), "\n", "\n      ")))
			case "skipped":
				skipped = append(skipped, fmt.Sprintf("%s: %s", tc.Name, clipLine(msg, 300)))
			}
		}
	}
	if len(skipped) > 0 {
		t.Logf("%d skipped/disabled test cases:\n  %s", len(skipped), strings.Join(skipped, "\n  "))
	}

	if isReference() {
		// The reference registry's known result checks this test's parsing.
		if c.Total != conformanceTests || c.Failed+c.Errors != referenceFailures {
			t.Errorf("reference registry: got %s, want %d total and %d failed", c, conformanceTests, referenceFailures)
		}
		return c
	}
	if c.Total < conformanceTests {
		t.Errorf("only %d conformance tests ran, want at least %d (did the suite abort? see %s)", c.Total, conformanceTests, keep)
	}
	if c.Failed+c.Errors > 0 || len(failing) > 0 {
		t.Errorf("%d conformance tests failed (%d test cases); reports in %s:\n  %s",
			c.Failed+c.Errors, len(failing), keep, strings.Join(failing, "\n  "))
	}
	if runErr != nil && c.Failed+c.Errors == 0 {
		t.Errorf("oci-conformance exited with %v although no test failed\nstderr:\n%s", runErr, clip(stderr.String()))
	}
	if t.Failed() {
		if i := strings.Index(stdout.String(), "OCI Conformance Result"); i >= 0 {
			t.Logf("suite summary:\n%s", clip(stdout.String()[i:]))
		}
	}
	return c
}

func clipLine(s string, max int) string {
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// copyDir copies the regular files of src into dst (replacing dst).
func copyDir(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
