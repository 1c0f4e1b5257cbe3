package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/quflx/quflx-tui/ui"
)

// configCmd is `quflx-tui config path|print`.
func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config path|print", Short: configShort, Long: configLong, Example: configExamples,
		DisableFlagsInUseLine: true, DisableAutoGenTag: true,
		ValidArgs: []string{"path\tthe config file's path", "print\tthe effective configuration"}}
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 || (args[0] != "path" && args[0] != "print") {
			return usageErr("config takes one word: path or print")
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		a.started = true // what fails from here is the file, said in its own words
		if args[0] == "path" {
			flag, _ := cmd.Flags().GetString("config")
			p, _ := configPath(flag, a.env)
			if p == "" {
				return usageErr("no config file path: neither HOME nor XDG_CONFIG_HOME is set (use --config FILE)")
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), p)
			return err
		}
		var cfg Config
		if err := a.applyConfig(cmd, &cfg); err != nil {
			return err
		}
		return writeEffectiveConfig(cmd.OutOrStdout(), cmd.Root(), a.conf, a.confPath, cfg)
	}
	return cmd
}

// writeEffectiveConfig prints, as a TOML file would say it, every command's settings as
// the config file and the defaults make them (the command line and the environment can
// still override them), the connection profiles, the keymap and the watchlist groups.
// Secrets are redacted.
func writeEffectiveConfig(w io.Writer, root *cobra.Command, f *configFile, path string, cfg Config) error {
	var b strings.Builder
	switch {
	case f != nil:
		fmt.Fprintf(&b, "# The effective configuration: config file %s, then the defaults.\n", f.path)
	case path != "":
		fmt.Fprintf(&b, "# The effective configuration: the defaults (no config file at %s).\n", path)
	default:
		b.WriteString("# The effective configuration: the defaults (no config file).\n")
	}
	b.WriteString("# Flags override it, and the environment (REDIS_URL, REDIS_HOST...) overrides its connection.\n")
	b.WriteString("# Secrets are shown as ***.\n")
	for _, c := range modeCommands(root) {
		fmt.Fprintf(&b, "\n[%s]\n", sectionOf(c))
		c.Flags().VisitAll(func(fl *pflag.Flag) {
			if fl.Hidden || !fileSettable(root, fl) {
				return
			}
			fmt.Fprintf(&b, "%s = %s", tomlKey(fl.Name), tomlValueOf(fl))
			if place := valuePlace(fl); place != "" {
				b.WriteString(" # " + place)
			}
			b.WriteByte('\n')
		})
	}
	if f != nil {
		profiles, _ := f.doc["connections"].(map[string]any)
		for _, name := range sortedKeys(profiles) {
			fmt.Fprintf(&b, "\n[connections.%s]\n", tomlKey(name))
			values, _ := profiles[name].(map[string]any)
			for _, k := range sortedKeys(values) {
				fmt.Fprintf(&b, "%s = %s\n", tomlKey(k), tomlRedacted(k, values[k]))
			}
		}
	}
	km := ui.DefaultKeyMap()
	if cfg.Keys != nil {
		km = *cfg.Keys
	}
	b.WriteString("\n[keys]\n")
	bindings := km.Bindings()
	for _, action := range ui.ActionNames() {
		fmt.Fprintf(&b, "%s = %s\n", action, tomlText(bindings[action]))
	}
	for _, g := range cfg.Groups {
		fmt.Fprintf(&b, "\n[[watchlist.groups]]\nname = %s\nassets = %s\n", tomlText(g.Name), tomlText(g.Assets))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tomlKey writes a key bare when it can be.
func tomlKey(k string) string {
	for _, r := range k {
		if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(k)
		}
	}
	return k
}

// tomlText writes a value in TOML.
func tomlText(v any) string {
	b, err := toml.Marshal(map[string]any{"v": v})
	if err != nil {
		return `""`
	}
	return strings.TrimSpace(strings.TrimPrefix(string(b), "v = "))
}

// tomlValueOf writes a flag's value in TOML by its type, secrets redacted.
func tomlValueOf(fl *pflag.Flag) string {
	switch fl.Value.Type() {
	case "bool", "int", "int64", "uint64":
		return fl.Value.String()
	case "float64":
		s := fl.Value.String()
		if !strings.ContainsAny(s, ".eEnN") {
			s += ".0" // a TOML float, as the flag is
		}
		return s
	}
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		var out []string
		for _, s := range sv.GetSlice() {
			out = append(out, redactValue(fl.Name, s))
		}
		if out == nil {
			out = []string{}
		}
		return tomlText(out)
	}
	return tomlText(redactValue(fl.Name, fl.Value.String()))
}

// tomlRedacted writes a file's value in TOML, secrets redacted.
func tomlRedacted(key string, v any) string {
	switch v := v.(type) {
	case string:
		return tomlText(redactValue(key, v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			if s, ok := e.(string); ok {
				out[i] = redactValue(key, s)
			} else {
				out[i] = e
			}
		}
		return tomlText(out)
	}
	return tomlText(v)
}
