package cli

import (
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// synopsisAnnotation holds a command's synopsis lines besides its use line.
const synopsisAnnotation = "quflx_synopsis"

const (
	helpIndent = "    "
	flagColumn = 25 // where a flag's text starts, after the indent
	helpWidth  = 80
)

// writeHelp prints a command's help in the shape of a manual page: what it is, its
// flags under their headings with their usage strings and defaults, and, for the root
// command, the list of commands and the manual's other sections.
func writeHelp(w io.Writer, cmd *cobra.Command) {
	var b strings.Builder
	section := func(title string, rows []string) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(title + "\n")
		for _, r := range rows {
			if r != "" {
				b.WriteString(helpIndent + r)
			}
			b.WriteString("\n")
		}
	}
	root := !cmd.HasParent()
	section("NAME", wrap(cmd.CommandPath()+" - "+cmd.Short, helpWidth-len(helpIndent)))
	section("SYNOPSIS", synopsis(cmd))
	section("DESCRIPTION", lines(cmd.Long))
	if root {
		var rows []string
		for _, c := range commands(cmd) {
			rows = append(rows, columns(c.Name(), 12, c.Short)...)
		}
		rows = append(rows, "", "quflx-tui COMMAND --help shows a command's flags; quflx-tui man prints",
			"the manual page, every command's flags included.")
		section("COMMANDS", rows)
	}
	for _, g := range flagGroups(cmd) {
		rows := flagRows(g.flags)
		for _, s := range manualSections {
			if s.group == g.title {
				rows = append(append(rows, ""), lines(s.body)...)
			}
		}
		section(g.title, rows)
	}
	for _, s := range manualSections {
		if root && s.group == "" {
			section(s.title, lines(s.body))
		}
	}
	if cmd.Example != "" {
		section("EXAMPLES", lines(cmd.Example))
	}
	_, _ = io.WriteString(w, b.String())
}

func lines(text string) []string { return strings.Split(text, "\n") }

func synopsis(cmd *cobra.Command) []string {
	out := []string{cmd.UseLine()}
	if extra := cmd.Annotations[synopsisAnnotation]; extra != "" {
		out = append(out, lines(extra)...)
	}
	if !cmd.HasParent() {
		for _, c := range commands(cmd) {
			out = append(out, c.UseLine())
		}
	}
	return out
}

// commands returns the subcommands shown.
func commands(cmd *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			out = append(out, c)
		}
	}
	return out
}

type flagGroup struct {
	title string
	flags []*pflag.Flag
}

// flagGroups returns a command's shown flags (its own and those it inherits) by heading,
// in the order they were defined.
func flagGroups(cmd *cobra.Command) []flagGroup {
	cmd.InitDefaultHelpFlag() // merges the inherited flags into cmd.Flags()
	var groups []flagGroup
	index := map[string]int{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		g := groupOf(f)
		i, ok := index[g]
		if !ok {
			i, index[g] = len(groups), len(groups)
			groups = append(groups, flagGroup{title: g})
		}
		groups[i].flags = append(groups[i].flags, f)
	})
	return groups
}

func flagRows(flags []*pflag.Flag) []string {
	var rows []string
	for _, f := range flags {
		name, usage := pflag.UnquoteUsage(f)
		term := "    --" + f.Name
		if f.Shorthand != "" {
			term = "-" + f.Shorthand + ", --" + f.Name
		}
		if name != "" {
			term += " " + name
		}
		if d := defaultOf(f); d != "" {
			usage += " (default " + d + ")"
		}
		rows = append(rows, columns(term, flagColumn, usage)...)
	}
	return rows
}

// defaultOf is a flag's default as the help shows it, "" for a zero.
func defaultOf(f *pflag.Flag) string {
	switch f.DefValue {
	case "", "0", "0s", "false", "[]":
		return ""
	}
	switch f.Value.Type() {
	case "string":
		return strconv.Quote(f.DefValue)
	case "duration": // 1m, not 1m0s
		d := f.DefValue
		if strings.HasSuffix(d, "m0s") {
			d = strings.TrimSuffix(d, "0s")
		}
		if strings.HasSuffix(d, "h0m") {
			d = strings.TrimSuffix(d, "0m")
		}
		return d
	}
	return f.DefValue
}

// columns lays out a term and a text wrapped beside it from column width on (from the
// next line when the term is wider).
func columns(term string, width int, text string) []string {
	pad := strings.Repeat(" ", width)
	var rows []string
	lead := term + pad[min(len(term), width):]
	if len(term)+2 > width {
		rows, lead = append(rows, term), pad
	}
	for _, l := range wrap(text, helpWidth-len(helpIndent)-width) {
		rows = append(rows, lead+l)
		lead = pad
	}
	return rows
}

func wrap(text string, width int) []string {
	var out []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > width:
			out, line = append(out, line), word
		default:
			line += " " + word
		}
	}
	return append(out, line)
}
