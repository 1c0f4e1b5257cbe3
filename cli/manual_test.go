package cli

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// tree returns the command tree as Main builds it, and its commands, the root first.
func tree(t *testing.T) (*cobra.Command, []*cobra.Command) {
	t.Helper()
	a := &app{env: envOf(nil), run: func(context.Context, Config, io.Writer, io.Writer) error { return nil }}
	root := a.root()
	var all []*cobra.Command
	walk(root, func(c *cobra.Command) {
		if c == root || c.IsAvailableCommand() {
			c.InitDefaultHelpFlag() // merges the inherited flags, as parsing does
			all = append(all, c)
		}
	})
	return root, all
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := Main(args, &out, &errOut); code != 0 {
		t.Fatalf("%q: exit %d: %s", args, code, errOut.String())
	}
	return out.String()
}

// Every flag of every command has a usage string, a name for its value, and is in the
// command's --help; the root's help has the commands, the environment and the exit status.
func TestHelpDocumentsEveryFlagAndVariable(t *testing.T) {
	_, commands := tree(t)
	wantCommands := []string{"feed", "flush", "status", "serve", "mcp", "migrate", "config", "completion", "man"}
	if len(commands) != 1+len(wantCommands) {
		t.Fatalf("%d commands", len(commands))
	}
	for _, c := range commands {
		help := run(t, append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "quflx-tui")), "--help")...)
		for _, section := range []string{"NAME\n", "SYNOPSIS\n", "DESCRIPTION\n", "OPTIONS\n", "EXAMPLES\n"} {
			if !strings.Contains(help, section) {
				t.Errorf("%s --help has no %s", c.CommandPath(), section)
			}
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			name, _ := pflag.UnquoteUsage(f)
			switch {
			case f.Usage == "":
				t.Errorf("%s --%s has no usage string", c.CommandPath(), f.Name)
			case f.Value.Type() != "bool" && !strings.Contains(f.Usage, "`"+name+"`"):
				t.Errorf("%s --%s does not name its value in `backquotes`", c.CommandPath(), f.Name)
			case f.Hidden:
				if strings.Contains(help, "--"+f.Name) {
					t.Errorf("%s --help shows the hidden --%s", c.CommandPath(), f.Name)
				}
			case !regexp.MustCompile(`(?m)^ {4}` + regexp.QuoteMeta(flagTitle(f)) + `\b`).MatchString(
				strings.ReplaceAll(help, "        --", "    --")):
				t.Errorf("%s --help does not show %s", c.CommandPath(), flagTitle(f))
			}
		})
		for i, line := range strings.Split(help, "\n") {
			if len([]rune(line)) > 80 {
				t.Errorf("%s --help line %d is %d columns wide", c.CommandPath(), i+1, len([]rune(line)))
			}
		}
	}
	help := run(t, "--help")
	for _, want := range append(wantCommands, "SYNOPSIS", "COMMANDS", "REDIS_URL", "REDIS_HOST", "REDIS_PORT",
		"REDIS_DB", "REDIS_PASSWORD", "REDIS_USERNAME", "NO_COLOR", "EXIT STATUS", "KEYS IN THE DASHBOARD",
		"Precedence:", "Patterns hold") {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
	if strings.Contains(help, "\n    help ") || strings.Contains(help, "-h, --help") {
		t.Error("--help shows cobra's help command or -h as help")
	}
}
