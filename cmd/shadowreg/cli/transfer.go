package cli

import (
	"os"
	"strings"

	"github.com/shadowreg/shadowreg/internal/client"
	"github.com/spf13/cobra"
)

func newPushCmd() *cobra.Command {
	f := &clientFlags{}
	var artifact bool
	var artifactType string
	cmd := &cobra.Command{
		Use:   "push PATH [NAME[:TAG]]",
		Short: "Push a docker/podman save tarball, an OCI layout or archive, or a file or directory",
		Long: `push looks at PATH and pushes:
  - a docker-archive (docker save, podman save; .tar, .tar.gz, .tgz): every image
    in it to its own tags, or its one image to NAME;
  - an OCI layout directory or OCI archive: every manifest in index.json, byte for
    byte (indexes keep every platform and their digests), tagged with its
    ref.name annotation or NAME's tag;
  - any other file, or a directory, as an OCI artifact oras can pull (the
    file name in org.opencontainers.image.title; a directory as tar+gzip).
--artifact pushes a tarball as a plain file.`,
		Example: `  shadowreg push app.tar --server http://127.0.0.1:5000 --buildset 3f2a9c
  shadowreg push ./oci-layout org/app:1.0
  shadowreg push test-logs/ ci/logs:build-42 --artifact-type application/vnd.example.logs`,
		Args: rangeArgs(1, 2, "PATH and, for files and layouts, NAME[:TAG]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client("pushed")
			if err != nil {
				return err
			}
			target := ""
			if len(args) == 2 {
				target = args[1]
			}
			kind, err := client.Detect(args[0])
			if err != nil {
				return err
			}
			if artifact && kind != client.KindDir {
				kind = client.KindFile
			}
			if target == "" && kind != client.KindDockerArchive {
				return usageErrorf("%s is a %s: give the NAME[:TAG] to push it to", args[0], kind)
			}
			var res []client.Pushed
			ctx := cmd.Context()
			switch kind {
			case client.KindDockerArchive:
				res, err = c.PushDockerArchive(ctx, args[0], target)
			case client.KindOCILayout:
				res, err = c.PushLayout(ctx, args[0], target, kind)
			case client.KindOCIArchive:
				res, err = c.PushOCIArchive(ctx, args[0], target)
			default:
				var p client.Pushed
				p, err = c.PushArtifact(ctx, args[0], target, artifactType)
				res = append(res, p)
			}
			closeProgress(c)
			if err != nil {
				return err
			}
			return f.report(cmd, "pushed", res...)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&artifact, "artifact", false, "push PATH as a file artifact even when it is an image tarball")
	cmd.Flags().StringVar(&artifactType, "artifact-type", client.DefaultArtifactType, "the artifactType of a file or directory artifact")
	return cmd
}

func closeProgress(c *client.Client) { c.Progress().Close() }

func newPullCmd() *cobra.Command {
	f := &clientFlags{}
	var format, unpack, as string
	var all bool
	cmd := &cobra.Command{
		Use:   "pull NAME[:TAG|@DIGEST] [DEST]",
		Short: "Pull an image to a tarball docker/podman load accept or to an OCI layout, or unpack a file artifact",
		Long: `pull writes NAME to DEST:
  - a file (.tar, .tar.gz, .tgz, or an existing file): a docker-archive, tagged with the plain name
    (no registry, no buildset) or --tag, for docker load and podman load;
  - anything else, or --format oci: an OCI layout directory (added to one already there),
    with --all an index whole, every platform;
  - --unpack DIR: a file artifact's files (oras push's, shadowreg push's) or a
    single-layer image's content, refusing any entry that would land outside DIR.`,
		Example: `  shadowreg pull org/app:latest app.tar --buildset 3f2a9c && docker load -i app.tar
  shadowreg pull ci/logs:build-42 --unpack ./logs`,
		Args: rangeArgs(1, 2, "NAME[:TAG|@DIGEST] and DEST (or --unpack DIR)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client("pulled")
			if err != nil {
				return err
			}
			platform, err := f.parsePlatform()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var res client.Pushed
			switch {
			case unpack != "" && len(args) == 1:
				res, err = c.PullUnpack(ctx, args[0], unpack, platform)
			case len(args) != 2:
				return usageErrorf("give DEST, or --unpack DIR")
			case format == "oci" || (format == "" && !isArchiveName(args[1])):
				res, err = c.PullLayout(ctx, args[0], args[1], all, platform)
			case format == "" || format == "docker":
				res, err = c.PullDockerArchive(ctx, args[0], args[1], as, platform)
			default:
				return usageErrorf("--format %s: give docker or oci", format)
			}
			closeProgress(c)
			if err != nil {
				return err
			}
			return f.report(cmd, "pulled", res)
		},
	}
	f.add(cmd)
	f.addPlatform(cmd)
	cmd.Flags().StringVar(&format, "format", "", "docker (a docker-archive tarball) or oci (a layout directory); default: by DEST")
	cmd.Flags().StringVar(&unpack, "unpack", "", "write a file artifact's files, or a single-layer image's content, into `DIR`")
	cmd.Flags().StringVar(&as, "tag", "", "the name the image gets in a docker-archive (default: NAME)")
	cmd.Flags().BoolVar(&all, "all", false, "into an OCI layout: an index with every platform")
	return cmd
}

// isArchiveName says whether DEST names a tarball (by its suffix, or an
// existing file) rather than a layout directory.
func isArchiveName(p string) bool {
	for _, suffix := range []string{".tar", ".tar.gz", ".tgz"} {
		if strings.HasSuffix(p, suffix) {
			return true
		}
	}
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
