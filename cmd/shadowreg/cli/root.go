// Package cli holds shadowreg's commands. Each is an options struct, a
// newXxxCmd constructor and a run method, as in regclient.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Execute runs the command line and returns the process exit code. Errors
// are printed as one line prefixed with "shadowreg: ".
func Execute(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		// One line: the error's first, without cobra's suggestions.
		msg, _, _ := strings.Cut(err.Error(), "\n")
		// The client commands tell failures apart by exit code (README)
		// and say what to do; serve and the admin commands exit 1 on any.
		code := exitFailure
		if cmd != nil && cmd.Annotations[clientAnnotation] != "" {
			code = exitCode(err)
			msg += hint(code, msg)
		}
		fmt.Fprintln(os.Stderr, "shadowreg:", msg)
		return code
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:                "shadowreg",
		Short:              "A container registry for CI gating that shadows upstream registries",
		SilenceUsage:       true,
		SilenceErrors:      true,
		DisableSuggestions: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	root.AddCommand(newServeCmd(), newBuildsetCmd(), newPruneCmd(), newCertCmd(), newHashPasswordCmd(), newVersionCmd(),
		newPushCmd(), newPullCmd(), newCopyCmd(), newLsCmd(), newInspectCmd(), newTagCmd(), newRmCmd(),
		newLoginCmd(), newLogoutCmd())
	return root
}
