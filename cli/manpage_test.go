package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The man page has every command, each with its flags (the connection flags once, with
// the root's), the manual's sections, and nothing hidden.
func TestManPageHasEveryCommandAndFlag(t *testing.T) {
	page := run(t, "man")
	if !strings.HasPrefix(page, ".nh\n.TH \"QUFLX-TUI\" \"1\"") {
		t.Fatalf("not a man page: %.100s", page)
	}
	plain := strings.NewReplacer(`\-`, "-", `\fB`, "", `\fP`, "", `\fR`, "", `\fI`, "").Replace(page)
	parts := map[string]string{} // the root's part and each command's
	current := "quflx-tui"
	for _, line := range strings.SplitAfter(plain, "\n") {
		if name, ok := strings.CutPrefix(line, ".SS "); ok {
			current = strings.TrimSpace(name)
		} else if strings.HasPrefix(line, ".SH ") {
			current = "quflx-tui"
		}
		parts[current] += line
	}
	_, commands := tree(t)
	for _, c := range commands {
		part, ok := parts[c.CommandPath()]
		if !ok {
			t.Errorf("the man page has no part for %s", c.CommandPath())
			continue
		}
		if !strings.Contains(part, c.Short) || (c.HasParent() && !strings.Contains(part, c.UseLine())) {
			t.Errorf("%s's part lacks its name or synopsis", c.CommandPath())
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			where := part
			if groupOf(f) == groupConnection || c.InheritedFlags().Lookup(f.Name) != nil {
				where = parts["quflx-tui"]
			}
			shown := strings.Contains(where, "--"+f.Name+"=") || strings.Contains(where, "--"+f.Name+"[=")
			if f.Shorthand != "" {
				shown = shown && strings.Contains(where, "-"+f.Shorthand+", --"+f.Name)
			}
			if shown == f.Hidden {
				t.Errorf("man page, %s: --%s shown %v, hidden %v", c.CommandPath(), f.Name, shown, f.Hidden)
			}
		})
	}
	for _, want := range []string{".SH SYNOPSIS", ".SH OPTIONS", ".SH COMMANDS", ".SH PRECEDENCE", ".SH ENVIRONMENT",
		".SH EXIT STATUS", ".SH EXAMPLE", "REDIS_USERNAME", "tab, shift+tab", "quflx-tui --demo [pipeline options]"} {
		if !strings.Contains(plain, want) {
			t.Errorf("the man page has no %q", want)
		}
	}
}

// Each shell's script is produced and asks quflx-tui for completions, which offer the
// commands, the flags and the values that can be known.
func TestCompletions(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		script := run(t, "completion", shell)
		if len(script) < 1000 || !strings.Contains(script, "quflx-tui") || !strings.Contains(script, "__complete") {
			t.Errorf("%s: %.200s", shell, script)
		}
	}
	complete := func(args ...string) (values []string, directive string) {
		t.Helper()
		out := strings.Split(strings.TrimSpace(run(t, append([]string{"__complete"}, args...)...)), "\n")
		for _, l := range out[:len(out)-1] {
			if !strings.HasPrefix(l, "Completion ended with directive") {
				values = append(values, strings.Split(l, "\t")[0])
			}
		}
		return values, out[len(out)-1]
	}
	commands, _ := complete("")
	for _, want := range []string{"feed", "flush", "status", "serve", "mcp", "migrate", "completion", "man"} {
		if !strings.Contains(strings.Join(commands, " "), want) {
			t.Errorf("commands complete to %v, without %s", commands, want)
		}
	}
	for _, c := range []struct {
		args      []string
		want      string
		directive string
	}{
		{[]string{"feed", "--producer", ""}, "v1 v2", ":4"},
		{[]string{"--producer", ""}, "v1 v2", ":4"},
		{[]string{"status", "--cluster", ""}, "auto on off", ":4"},
		{[]string{"flush", "--store", ""}, "sqlite: postgres://", ":2"},
		{[]string{"migrate", "--store", ""}, "sqlite: postgres://", ":2"},
		{[]string{"--redis", ""}, "redis:// rediss:// unix://", ":2"},
		{[]string{"completion", ""}, "bash zsh fish", ":4"},
		{[]string{"status", "--env-file", ""}, "", ":0"}, // file names
		{[]string{"feed", "--replay", ""}, "", ":0"},
		{[]string{"--log", ""}, "", ":0"},
		{[]string{"mcp", "--cacert", ""}, "", ":0"},
		{[]string{"status", "--watch", ""}, "", ":4"}, // no file names for a duration
		{[]string{"feed", ""}, "", ":4"},              // no arguments
	} {
		values, directive := complete(c.args...)
		if strings.Join(values, " ") != c.want || directive != c.directive {
			t.Errorf("%q completes to %v %s, want %q %s", c.args, values, directive, c.want, c.directive)
		}
	}
	flags, _ := complete("status", "--")
	if s := strings.Join(flags, " "); !strings.Contains(s, "--max-fill") || !strings.Contains(s, "--env-file") ||
		strings.Contains(s, "--rate") || strings.Contains(s, "--cpuprofile") {
		t.Errorf("status's flags complete to %v", flags)
	}
}
