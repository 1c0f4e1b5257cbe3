package cli

import (
	"bytes"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// completion prints a shell's completion script; the script asks quflx-tui itself
// (cobra's hidden __complete command) for the commands, flags and values.
func (a *app) completion() *cobra.Command {
	shells := []string{"bash", "zsh", "fish"}
	cmd := &cobra.Command{Use: "completion bash|zsh|fish", Short: completionShort, Long: completionLong,
		Example: completionExamples, ValidArgs: shells, DisableFlagsInUseLine: true, DisableAutoGenTag: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || !slices.Contains(shells, args[0]) {
				return usageErr("completion takes one shell: bash, zsh or fish")
			}
			return nil
		}}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		a.started = true
		out, root := cmd.OutOrStdout(), cmd.Root()
		switch args[0] {
		case "bash":
			return root.GenBashCompletionV2(out, true)
		case "zsh":
			return root.GenZshCompletion(out)
		}
		return root.GenFishCompletion(out, true)
	}
	return cmd
}

// man prints the manual page, generated from the commands' definitions.
func (a *app) man() *cobra.Command {
	cmd := &cobra.Command{Use: "man", Short: manShort, Long: manLong, Example: manExamples, Args: a.noArgs,
		ValidArgsFunction: cobra.NoFileCompletions, DisableFlagsInUseLine: true, DisableAutoGenTag: true}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		a.started = true
		return writeMan(cmd.OutOrStdout(), cmd.Root())
	}
	return cmd
}

// writeMan prints the manual page: cobra/doc's page of the root command, with the
// manual's other sections, and each command's page as a part of it.
func writeMan(w io.Writer, root *cobra.Command) error {
	var extra strings.Builder
	for _, s := range manualSections {
		extra.WriteString("\n\n# " + s.title + "\n\n")
		for _, l := range lines(s.body) {
			if s.pre {
				l = "    " + l // a code block: kept as written
			}
			extra.WriteString(l + "\n")
		}
	}
	cmds, syn := commands(root), synopsis(root) // before cobra/doc sorts the commands by name
	preamble, sections, err := manSections(root, extra.String())
	if err != nil {
		return err
	}
	var out strings.Builder
	out.WriteString(preamble)
	emit := func(title string) {
		for _, s := range sections {
			if s.title == title {
				out.WriteString(".SH " + s.title + "\n" + s.body)
			}
		}
	}
	for _, title := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"} {
		emit(title)
		if title == "SYNOPSIS" {
			for _, l := range syn[1:] {
				out.WriteString(".br\n\\fB" + l + "\\fP\n")
			}
		}
	}
	for _, s := range manualSections {
		if s.group != "" {
			emit(s.title)
		}
	}
	out.WriteString(".SH COMMANDS\n")
	for _, c := range cmds {
		if err := writeManCommand(&out, c); err != nil {
			return err
		}
	}
	for _, s := range manualSections {
		if s.group == "" {
			emit(s.title)
		}
	}
	emit("EXAMPLE")
	_, err = io.WriteString(w, out.String())
	return err
}

// writeManCommand writes a command's page as a subsection of the whole page. The
// connection flags, the same for every command, are left to the root's options, and so
// are --help and --version.
func writeManCommand(out *strings.Builder, c *cobra.Command) error {
	var shared []*pflag.Flag
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if groupOf(f) == groupConnection && !f.Hidden {
			shared, f.Hidden = append(shared, f), true
		}
	})
	_, sections, err := manSections(c, "")
	for _, f := range shared {
		f.Hidden = false
	}
	if err != nil {
		return err
	}
	out.WriteString(".SS " + c.CommandPath() + "\n" + c.Short + "\n.PP\n")
	for _, s := range sections {
		switch s.title {
		case "SYNOPSIS", "DESCRIPTION":
			out.WriteString(s.body + ".PP\n")
		case "OPTIONS":
			if len(shared) > 0 {
				out.WriteString("Options, besides the connection flags:\n")
			} else {
				out.WriteString("Options:\n")
			}
			out.WriteString(".RS\n.PP\n" + s.body + ".RE\n.PP\n")
		case "EXAMPLE":
			out.WriteString("Examples:\n" + s.body + ".PP\n")
		}
	}
	return nil
}

type manSection struct{ title, body string }

// manSections renders a command's page with cobra/doc, its description followed by
// extra (Markdown), and cuts it at its .SH lines.
func manSections(cmd *cobra.Command, extra string) (string, []manSection, error) {
	long := cmd.Long
	cmd.Long += extra
	defer func() { cmd.Long = long }()
	var page bytes.Buffer
	header := &doc.GenManHeader{Title: "QUFLX-TUI", Section: "1", Source: Version(), Manual: "User Commands"}
	if err := doc.GenMan(cmd, header, &page); err != nil {
		return "", nil, err
	}
	var preamble string
	var sections []manSection
	for _, line := range strings.SplitAfter(page.String(), "\n") {
		if title, ok := strings.CutPrefix(line, ".SH "); ok {
			sections = append(sections, manSection{title: strings.Trim(strings.TrimSpace(title), `"`)})
		} else if n := len(sections); n == 0 {
			preamble += line
		} else {
			sections[n-1].body += line
		}
	}
	for i := range sections {
		sections[i].body = strings.TrimSpace(sections[i].body) + "\n"
	}
	return preamble, sections, nil
}
