package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/shadowreg/shadowreg/internal/client"
	"github.com/spf13/cobra"
)

func newCopyCmd() *cobra.Command {
	f := &clientFlags{}
	from := &clientFlags{}
	var all bool
	cmd := &cobra.Command{
		Use:   "copy SRC DEST",
		Short: "Copy an image or index between registries, namespaces and buildsets, digests preserved",
		Example: `  shadowreg copy docker.io/library/alpine:3 docker.io/library/alpine:3 --from-buildset "" --buildset 3f2a9c --all
  shadowreg copy org/app:1 org/app:1 --from-server https://other.example.com --server http://127.0.0.1:5000`,
		Args: exactArgs(2, "SRC and DEST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client("copied")
			if err != nil {
				return err
			}
			// SRC is on DEST's registry and in DEST's buildset unless told
			// otherwise; --from-buildset "" names the shared area.
			src := c
			if from.server != "" || cmd.Flags().Changed("from-buildset") {
				if from.server == "" {
					from.server = f.server
				}
				from.caFile, from.insecure, from.output, from.quiet = f.caFile, f.insecure, f.output, f.quiet
				if src, err = from.client("read"); err != nil {
					return err
				}
			}
			platform, err := f.parsePlatform()
			if err != nil {
				return err
			}
			res, err := c.Copy(cmd.Context(), src, args[0], args[1], all, platform)
			if err != nil {
				return err
			}
			return f.report(cmd, "copied", res)
		},
	}
	f.add(cmd)
	f.addPlatform(cmd)
	cmd.Flags().StringVar(&from.server, "from-server", "", "the registry SRC is on (default: --server)")
	cmd.Flags().StringVar(&from.buildset, "from-buildset", "", "SRC is under buildsets/<ID>/; \"\" for the shared area (default: --buildset)")
	cmd.Flags().BoolVar(&all, "all", false, "copy an index whole, every platform (default: --platform's image)")
	return cmd
}

func newLsCmd() *cobra.Command {
	f := &clientFlags{}
	var tags bool
	cmd := &cobra.Command{
		Use:   "ls [PREFIX | --tags NAME]",
		Short: "List repositories starting with PREFIX, or a repository's tags",
		Example: `  shadowreg ls docker.io/org/ --buildset 3f2a9c
  shadowreg ls --tags org/app`,
		Args: rangeArgs(0, 1, "a PREFIX, or --tags NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client("")
			if err != nil {
				return err
			}
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			var list []string
			if tags {
				if arg == "" {
					return usageErrorf("--tags: give the repository")
				}
				list, err = c.Tags(cmd.Context(), arg)
			} else {
				list, err = c.Repositories(cmd.Context(), arg)
			}
			if err != nil {
				return err
			}
			if f.output == "json" {
				if list == nil {
					list = []string{}
				}
				return printJSON(cmd, list)
			}
			for _, s := range list {
				fmt.Fprintln(cmd.OutOrStdout(), s)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&tags, "tags", "t", false, "list the tags of the repository NAME")
	return cmd
}

func newInspectCmd() *cobra.Command {
	f := &clientFlags{}
	var raw bool
	cmd := &cobra.Command{
		Use:   "inspect NAME[:TAG|@DIGEST]",
		Short: "Show a manifest: digest, media type, platforms or layers, config",
		Args:  exactArgs(1, "NAME[:TAG|@DIGEST]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client("")
			if err != nil {
				return err
			}
			in, err := c.Inspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case raw:
				_, err = out.Write(append(in.Manifest, '\n'))
				return err
			case f.output == "json":
				return printJSON(cmd, in)
			}
			fmt.Fprintf(out, "name:       %s\ndigest:     %s\nmedia type: %s\nsize:       %d\n", in.Ref, in.Digest, in.MediaType, in.Size)
			if in.ArtifactType != "" {
				fmt.Fprintf(out, "artifact:   %s\n", in.ArtifactType)
			}
			if len(in.Platforms) > 0 {
				fmt.Fprintf(out, "platforms:  %s\n", strings.Join(in.Platforms, ", "))
			}
			for _, l := range in.Layers {
				title := l.Annotations["org.opencontainers.image.title"]
				fmt.Fprintf(out, "layer:      %s %s %s %s\n", l.Digest, humanBytes(l.Size), l.MediaType, title)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&raw, "raw", false, "print the manifest as stored")
	return cmd
}

func newTagCmd() *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:     "tag NAME[:TAG|@DIGEST] NEWTAG",
		Short:   "Tag a manifest with NEWTAG in its repository",
		Example: `  shadowreg tag org/app@sha256:… release-1`,
		Args:    exactArgs(2, "NAME[:TAG|@DIGEST] and NEWTAG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client("")
			if err != nil {
				return err
			}
			res, err := c.Tag(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return f.report(cmd, "tagged", res)
		},
	}
	f.add(cmd)
	return cmd
}

func newRmCmd() *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "rm NAME:TAG | NAME@DIGEST",
		Short: "Delete a tag, or a manifest by digest",
		Args:  exactArgs(1, "NAME:TAG or NAME@DIGEST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client("")
			if err != nil {
				return err
			}
			if err := c.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			return f.report(cmd, "deleted", client.Pushed{Ref: args[0]})
		},
	}
	f.add(cmd)
	return cmd
}

func newLoginCmd() *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Check credentials and store them as docker does (~/.docker/config.json or its credential helper)",
		Example: `  SHADOWREG_PASSWORD=… shadowreg login --server https://registry.example.com --username ci
  # later commands, docker and crane use them`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client.New(client.Options{Server: f.server, CAFile: f.caFile, Insecure: f.insecure})
			if err != nil {
				return err
			}
			password := f.password
			if password == "" {
				password = os.Getenv("SHADOWREG_PASSWORD")
			}
			if f.username == "" || password == "" {
				return usageErrorf("give --username and the password (env SHADOWREG_PASSWORD)")
			}
			file, err := c.Login(cmd.Context(), f.username, password)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged in to %s (credentials in %s)\n", c.Host(), file)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newLogoutCmd() *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Remove the registry's stored credentials",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client.New(client.Options{Server: f.server})
			if err != nil {
				return err
			}
			file, err := c.Logout()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged out of %s (%s)\n", c.Host(), file)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
