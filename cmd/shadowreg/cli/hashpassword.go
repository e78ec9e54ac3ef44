package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type hashPasswordOptions struct {
	cost  int
	check string
}

// newHashPasswordCmd makes the bcrypt hashes that auth.users[].password
// takes, so that setting up a registry needs no other tool: Ansible's
// password_hash needs the optional passlib, and without it quietly prints
// "*0" instead of a hash.
func newHashPasswordCmd() *cobra.Command {
	o := &hashPasswordOptions{}
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Print the bcrypt hash of a password read from stdin, for auth.users[].password",
		Long: `Read a password from stdin (its first line; asked for without echo on a
terminal) and print its bcrypt hash, the form auth.users[].password takes.
With --check HASH, print nothing and exit 0 if the password matches HASH, 1 if
it does not.`,
		Example: `  printf '%s' "$PASSWORD" | shadowreg hash-password
  shadowreg hash-password --cost 12 < password-file
  shadowreg hash-password --check "$(cat password.bcrypt)" < password-file`,
		Args: cobra.NoArgs,
		RunE: o.run,
	}
	cmd.Flags().IntVar(&o.cost, "cost", auth.DefaultHashCost, "bcrypt cost (4 to 31; each step doubles the time a check takes)")
	cmd.Flags().StringVar(&o.check, "check", "", "a bcrypt hash: check the password against it instead of printing a new one")
	return cmd
}

func (o *hashPasswordOptions) run(cmd *cobra.Command, _ []string) error {
	password, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if o.check != "" {
		return auth.CheckPasswordHash(o.check, password)
	}
	hash, err := auth.HashPassword(password, o.cost)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err)
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), hash)
	return err
}

// readPassword reads the first line of in, without its line ending. On a
// terminal it prompts on prompt and does not echo.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on stdin: pipe one in, e.g. printf '%s' \"$PASSWORD\" | shadowreg hash-password")
	}
	return line, nil
}
