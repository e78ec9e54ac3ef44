package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/registry/config"
	"github.com/spf13/cobra"
)

func newBuildsetCmd() *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "buildset",
		Short: "Create, list, show, delete and promote buildsets on a running registry",
		Long: `Buildsets are areas of the registry, one per CI buildset. Repository names under
buildsets/<id>/ address one (buildsets/<id>/docker.io/library/alpine); so do the
credentials that create prints, for docker's registry-mirrors. Reads fall through
the buildset, its parents, the shared area and the upstream; writes stay in it.`,
	}
	f.add(cmd)
	cmd.AddCommand(newBuildsetCreateCmd(f), newBuildsetListCmd(f), newBuildsetShowCmd(f),
		newBuildsetDeleteCmd(f), newBuildsetPromoteCmd(f))
	return cmd
}

type buildsetCreateOptions struct {
	parents []string
	ttl     string
	quota   string
	output  string
}

func newBuildsetCreateCmd(f *serverFlags) *cobra.Command {
	o := &buildsetCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create ID",
		Short: "Create a buildset; prints its credentials",
		Example: `  shadowreg buildset create 3f2a9c --parent 1b7e04 --parent 9d0c11 --ttl 6h --quota 20GiB --server http://127.0.0.1:5000
  # later pushes: skopeo copy … docker://127.0.0.1:5000/buildsets/3f2a9c/docker.io/org/app:latest`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := registry.CreateRequest{ID: args[0], Parents: o.parents, TTL: o.ttl}
			if o.quota != "" {
				q, err := config.ParseBytes(o.quota)
				if err != nil {
					return fmt.Errorf("--quota: %w", err)
				}
				req.Quota = q
			}
			if _, err := registry.ParseTTL(o.ttl); err != nil {
				return fmt.Errorf("--ttl: %w", err)
			}
			var info registry.BuildsetInfo
			if err := f.call("POST", registry.AdminPrefix+"/buildsets", req, &info); err != nil {
				return err
			}
			if o.output == "json" {
				return printJSON(cmd, info)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created buildset %s", info.ID)
			if info.Expires != nil {
				fmt.Fprintf(out, ", expires %s", info.Expires.Local().Format(time.RFC3339))
			}
			fmt.Fprintf(out, "\nusername: %s\npassword: %s\n", info.Username, info.Password)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&o.parents, "parent", nil, "a parent buildset, in the order reads fall through them (repeatable)")
	cmd.Flags().StringVar(&o.ttl, "ttl", "", `time to live, like 6h; "never" for none; default: the server's`)
	cmd.Flags().StringVar(&o.quota, "quota", "", "most bytes the buildset may hold, like 20GiB")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "text or json")
	return cmd
}

func newBuildsetListCmd(f *serverFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List buildsets with their size, age, expiry and parents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var all []registry.BuildsetInfo
			if err := f.call("GET", registry.AdminPrefix+"/buildsets", nil, &all); err != nil {
				return err
			}
			if output == "json" {
				return printJSON(cmd, all)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSIZE\tQUOTA\tAGE\tEXPIRES IN\tPARENTS\tPROMOTED")
			for _, b := range all {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, humanBytes(b.Size), quotaText(b.Quota),
					humanDuration(time.Duration(b.AgeSecs)*time.Second), expiresText(b), dash(strings.Join(b.Parents, ",")), promotedText(b))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newBuildsetShowCmd(f *serverFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one buildset as JSON, with the areas its reads fall through",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info registry.BuildsetInfo
			if err := f.call("GET", registry.AdminPrefix+"/buildsets/"+url.PathEscape(args[0]), nil, &info); err != nil {
				return err
			}
			return printJSON(cmd, info)
		},
	}
}

func newBuildsetDeleteCmd(f *serverFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID...",
		Short: "Delete buildsets (their content is freed by the next garbage collection)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, id := range args {
				if err := f.call("DELETE", registry.AdminPrefix+"/buildsets/"+url.PathEscape(id), nil, nil); err != nil {
					return fmt.Errorf("%s: %w", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted buildset %s\n", id)
			}
			return nil
		},
	}
}

func newBuildsetPromoteCmd(f *serverFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "promote ID",
		Short: "Make a buildset's images visible in the shared area (when its change merges), by reference",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res struct{ Links int }
			if err := f.call("POST", registry.AdminPrefix+"/buildsets/"+url.PathEscape(args[0])+"/promote", nil, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "promoted buildset %s: %d links into the shared area, no blobs copied\n", args[0], res.Links)
			return nil
		},
	}
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func quotaText(q int64) string {
	if q <= 0 {
		return "-"
	}
	return humanBytes(q)
}

func expiresText(b registry.BuildsetInfo) string {
	switch {
	case b.Expires == nil:
		return "never"
	case b.Expired:
		return "expired"
	}
	return humanDuration(time.Until(*b.Expires))
}

func promotedText(b registry.BuildsetInfo) string {
	if b.Promoted == nil {
		return "-"
	}
	return b.Promoted.Local().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
