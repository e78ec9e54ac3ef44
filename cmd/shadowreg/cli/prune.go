package cli

import (
	"fmt"
	"io"

	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/spf13/cobra"
)

type pruneOptions struct {
	server serverFlags
	serve  serveOptions
	dryRun bool
	output string
}

func newPruneCmd() *cobra.Command {
	o := &pruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Run one garbage collection: expired buildsets, stale uploads, unreferenced blobs, old cache",
		Long: `Run one garbage collection. With --server, the running registry collects
(safe against pushes in progress). Without it, prune opens the storage named by
--config/--data-dir itself: do that only while no registry uses the same storage,
since the protection against racing pushes lives in the registry process.
--dry-run reports what would be freed and frees nothing.`,
		Example: `  shadowreg prune --server http://127.0.0.1:5000 --dry-run
  shadowreg prune --data-dir ./shadowreg-data`,
		Args: cobra.NoArgs,
		RunE: o.run,
	}
	o.server.add(cmd)
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "report what would be freed, free nothing")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "text or json")
	cmd.Flags().StringVarP(&o.serve.configFile, "config", "c", "", "configuration file, for local mode")
	cmd.Flags().StringVar(&o.serve.dataDir, "data-dir", "", "data folder, for local mode (overrides the config's)")
	return cmd
}

func (o *pruneOptions) run(cmd *cobra.Command, _ []string) error {
	done := progress("prune: collecting")
	defer done()
	var rep storage.CollectReport
	if o.server.server != "" {
		path := registry.AdminPrefix + "/gc"
		if o.dryRun {
			path += "?dry-run=true"
		}
		if err := o.server.call("POST", path, nil, &rep); err != nil {
			return err
		}
	} else {
		c, err := o.serve.config()
		if err != nil {
			return err
		}
		a, err := newApp(cmd.Context(), c, newLogger(c.Log))
		if err != nil {
			return err
		}
		opts := a.collect
		opts.DryRun = o.dryRun
		r, err := a.buildsets.Collect(cmd.Context(), opts)
		if err != nil {
			return err
		}
		rep = *r
	}
	done()
	if o.output == "json" {
		return printJSON(cmd, rep)
	}
	printReport(cmd.OutOrStdout(), &rep)
	return nil
}

func printReport(w io.Writer, r *storage.CollectReport) {
	verb := "freed"
	if r.DryRun {
		verb = "would free"
	}
	fmt.Fprintf(w, "prune %s %s (%d bytes) in %s\n", verb, humanBytes(r.FreedBytes), r.FreedBytes, humanDuration(r.Took))
	fmt.Fprintf(w, "  expired buildsets:   %d\n", len(r.Areas))
	fmt.Fprintf(w, "  stale uploads:       %d (%s)\n", r.Uploads, humanBytes(r.UploadBytes))
	fmt.Fprintf(w, "  cache entries:       %d evicted\n", r.CacheLinks)
	fmt.Fprintf(w, "  unreferenced blobs:  %d (%s)\n", r.Blobs, humanBytes(r.BlobBytes))
	fmt.Fprintf(w, "  crash leftovers:     %d temporary files (%s)\n", r.TempFiles, humanBytes(r.TempBytes))
}
