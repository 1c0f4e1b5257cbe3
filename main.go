// Command quflx-tui is a terminal monitor for QuFLX market-data pipelines on Redis.
// See quflx-tui --help, and README.md.
package main

import (
	"os"

	"github.com/quflx/quflx-tui/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
