package cli

import (
	"fmt"
	"os"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/shadowreg/shadowreg/internal/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// clientFlags are how the client commands (push, pull, copy, ls, …) reach
// a registry: the same --server and environment as buildset's, plus the
// buildset whose area names are under.
type clientFlags struct {
	serverFlags
	buildset string
	quiet    bool
	output   string
	platform string
}

// clientAnnotation marks the commands whose exit codes say what failed.
const clientAnnotation = "shadowreg/client"

func (f *clientFlags) add(cmd *cobra.Command) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[clientAnnotation] = "true"
	p := cmd.Flags()
	p.StringVar(&f.server, "server", os.Getenv("SHADOWREG_SERVER"), "the registry, e.g. http://127.0.0.1:5000 or https://registry.example.com (env SHADOWREG_SERVER)")
	p.StringVar(&f.buildset, "buildset", os.Getenv("SHADOWREG_BUILDSET"), "names are under buildsets/<ID>/ (env SHADOWREG_BUILDSET)")
	p.StringVar(&f.username, "username", os.Getenv("SHADOWREG_USERNAME"), "user name; default: the credentials docker login or shadowreg login stored (env SHADOWREG_USERNAME)")
	p.StringVar(&f.password, "password", "", "password (better: env SHADOWREG_PASSWORD, which stays out of the process list)")
	p.StringVar(&f.caFile, "ca-file", "", "CA certificate (PEM) to trust for the registry's TLS")
	p.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification")
	p.BoolVarP(&f.quiet, "quiet", "q", false, "no progress, only errors")
	p.StringVarP(&f.output, "output", "o", "text", "text or json (the result on stdout, progress as JSON lines on stderr)")
}

// addPlatform adds --platform to commands that pick one image of an index.
func (f *clientFlags) addPlatform(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.platform, "platform", "linux/"+runtime.GOARCH, "the image to take from a multi-platform index, os/arch[/variant]")
}

func (f *clientFlags) client(verb string) (*client.Client, error) {
	if f.output != "text" && f.output != "json" {
		return nil, usageErrorf("-o %s: give text or json", f.output)
	}
	password := f.password
	if password == "" {
		password = os.Getenv("SHADOWREG_PASSWORD")
	}
	mode := client.Plain
	switch {
	case f.quiet:
		mode = client.Quiet
	case f.output == "json":
		mode = client.JSON
	case term.IsTerminal(int(os.Stderr.Fd())):
		mode = client.Bars
	}
	return client.New(client.Options{Server: f.server, Buildset: f.buildset, Username: f.username, Password: password,
		CAFile: f.caFile, Insecure: f.insecure, UserAgent: "shadowreg/" + Version(),
		Progress: client.NewProgress(os.Stderr, mode, verb)})
}

func (f *clientFlags) parsePlatform() (*v1.Platform, error) {
	if f.platform == "" {
		return nil, nil
	}
	p, err := v1.ParsePlatform(f.platform)
	if err != nil {
		return nil, usageErrorf("--platform %s: %v", f.platform, err)
	}
	return p, nil
}

// report prints the results: JSON, or one line each.
func (f *clientFlags) report(cmd *cobra.Command, verb string, results ...client.Pushed) error {
	if f.output == "json" {
		if len(results) == 1 {
			return printJSON(cmd, results[0])
		}
		return printJSON(cmd, results)
	}
	for _, r := range results {
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s\n", verb, r.Ref, r.Digest)
	}
	return nil
}
