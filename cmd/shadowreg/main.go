// Command shadowreg is a container image registry for CI gating: it serves
// images pushed during a buildset in place of the upstream images they
// shadow. See README.md.
package main

import (
	"os"

	"github.com/shadowreg/shadowreg/cmd/shadowreg/cli"
)

func main() { os.Exit(cli.Execute(os.Args[1:])) }
