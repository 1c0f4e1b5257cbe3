package cli

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/ui"
)

// How the config file meets the commands: once the command line is parsed, every flag it
// did not set takes the file's value, if the file has one, from (highest first) the
// connection profile chosen, the command's section, the top level. A flag added to any
// command is a key of the file with no code here; a list flag takes a TOML array.

const (
	// modeAnnotation marks the commands that run a mode: each has a section of the file.
	modeAnnotation = "quflx_mode"
	// sourceAnnotation records where a flag's value came from when not the command line:
	// its kind (sourceFile, sourceConnection) and, for messages, the place.
	sourceAnnotation = "quflx_source"

	sourceFile       = "file"       // the file's top level, a section, or a profile the file chose
	sourceConnection = "connection" // the profile --connection chose on the command line

	dashboardSection = "dashboard" // the root command's section
)

// fileSections are the file's tables that are not a command's flags.
var fileSections = []string{"connections", "keys", "watchlist"}

// sectionOf is the file's section of a command.
func sectionOf(c *cobra.Command) string {
	if !c.HasParent() {
		return dashboardSection
	}
	return c.Name()
}

// modeCommands are the commands with a section in the file, the dashboard's first.
func modeCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	walk(root, func(c *cobra.Command) {
		if c.Annotations[modeAnnotation] != "" {
			out = append(out, c)
		}
	})
	return out
}

// valueSource is where a flag's value came from: "" for the command line or the default,
// sourceFile or sourceConnection.
func valueSource(f *pflag.Flag) string {
	if s := f.Annotations[sourceAnnotation]; len(s) > 0 {
		return s[0]
	}
	return ""
}

// valuePlace is where a flag's value came from, for messages ("" for the command line).
func valuePlace(f *pflag.Flag) string {
	if s := f.Annotations[sourceAnnotation]; len(s) > 1 {
		return s[1]
	}
	return ""
}

// writeEnabling are the flags that let a reading mode write.
var writeEnabling = map[string]bool{"fill-cache": true, "allow-writes": true}

// fileSettable says whether the file may set a flag: not --help, --version, --config
// and the other flags every command inherits.
func fileSettable(root *cobra.Command, f *pflag.Flag) bool {
	return root.PersistentFlags().Lookup(f.Name) == nil
}

// flagOfAnyMode says whether some command with a section has the flag.
func flagOfAnyMode(root *cobra.Command, name string) bool {
	for _, c := range modeCommands(root) {
		if f := c.Flags().Lookup(name); f != nil && fileSettable(root, f) {
			return true
		}
	}
	return false
}

// loadConfig reads the config file once per command line: the one --config names, or
// the default one if it exists.
func (a *app) loadConfig(cmd *cobra.Command) (*configFile, error) {
	if !a.confRead {
		a.confRead = true
		flag, _ := cmd.Flags().GetString("config")
		var explicit bool
		a.confPath, explicit = configPath(flag, a.env)
		a.conf, a.confErr = readConfigFile(a.confPath, explicit)
		if a.confErr == nil && a.conf != nil {
			a.confErr = a.conf.checkKeys(cmd.Root())
		}
	}
	return a.conf, a.confErr
}

// applyConfig gives cmd's flags that the command line left alone the config file's
// values, and cfg the file's keymap and watchlist groups. Every command's section is
// applied to that command, so that a mistake in any of them shows at once.
func (a *app) applyConfig(cmd *cobra.Command, cfg *Config) error {
	f, err := a.loadConfig(cmd)
	if err != nil {
		return err
	}
	if f == nil {
		if fl := cmd.Flags().Lookup("connection"); fl != nil && fl.Changed {
			where := "no config file at " + a.confPath
			if a.confPath == "" {
				where = "no config file (no HOME nor XDG_CONFIG_HOME)"
			}
			return usageErr("--connection %s: %s", fl.Value, where)
		}
		return nil
	}
	cfg.ConfigFile = f.path
	for _, c := range modeCommands(cmd.Root()) {
		if err := f.applyFlags(c); err != nil {
			return err
		}
	}
	return f.applyUI(cfg)
}

// checkKeys refuses the keys no command knows, and sections that are neither a
// command's nor the file's own.
func (f *configFile) checkKeys(root *cobra.Command) error {
	sections := []string{}
	for _, c := range modeCommands(root) {
		sections = append(sections, sectionOf(c))
	}
	for _, k := range sortedKeys(f.doc) {
		v := f.doc[k]
		tbl, isTable := v.(map[string]any)
		switch {
		case !isTable && slices.Contains(fileSections, k):
			return f.errAt([]string{k}, "want a table")
		case !isTable:
			if !flagOfAnyMode(root, k) {
				return f.errAt([]string{k}, "unknown key: no command has a flag --%s", k)
			}
		case k == "connections":
			for _, name := range sortedKeys(tbl) {
				profile, ok := tbl[name].(map[string]any)
				if !ok {
					return f.errAt([]string{k, name}, "want a table of flags: [connections.%s]", name)
				}
				for _, key := range sortedKeys(profile) {
					switch {
					case key == "connection":
						return f.errAt([]string{k, name, key}, "a connection profile cannot choose another")
					case !flagOfAnyMode(root, key):
						return f.errAt([]string{k, name, key}, "unknown key: no command has a flag --%s", key)
					}
				}
			}
		case slices.Contains(fileSections, k), slices.Contains(sections, k):
		default:
			return f.errAt([]string{k}, "unknown section; the sections are %s", strings.Join(append(sections, fileSections...), ", "))
		}
	}
	return nil
}

// fileLayer is one table of the file applied to a command's flags.
type fileLayer struct {
	values map[string]any
	path   []string // of the table in the file
	kind   string   // sourceFile or sourceConnection
	place  string   // for messages
	strict bool     // every key must be a flag of the command
}

// applyFlags sets the flags of c its command line left alone from the file.
func (f *configFile) applyFlags(c *cobra.Command) error {
	fs, section := c.Flags(), sectionOf(c)
	own, _ := f.doc[section].(map[string]any)
	var layers []fileLayer
	profile, err := f.connectionFor(c, own)
	if err != nil {
		return err
	}
	if profile != nil {
		layers = append(layers, *profile)
	}
	layers = append(layers,
		fileLayer{values: own, path: []string{section}, kind: sourceFile, strict: true},
		fileLayer{values: f.doc, kind: sourceFile})
	for _, l := range layers {
		for _, k := range sortedKeys(l.values) {
			v := l.values[k]
			if _, isTable := v.(map[string]any); isTable && l.path == nil {
				continue // a section
			}
			path := append(append([]string{}, l.path...), k)
			fl := fs.Lookup(k)
			if fl == nil || !fileSettable(c.Root(), fl) {
				if l.strict {
					return f.errAt(path, "%s has no flag --%s", c.CommandPath(), k)
				}
				continue // another command's flag
			}
			if fl.Changed {
				continue // the command line, or a layer above, set it
			}
			if writeEnabling[k] {
				// Writes happen only when the user asks, on the command line: a file
				// read by every run (and every mode) must not turn a reader into a writer.
				return f.errAt(path, "--%s makes quflx-tui write to Redis: give it on the command line, not in a file", k)
			}
			if err := setFromFile(fs, fl, v); err != nil {
				return f.errAt(path, "%v", err)
			}
			place := l.place
			if place == "" {
				place = fmt.Sprintf("config file %s, line %d", f.path, f.line(path...))
			}
			if fl.Annotations == nil {
				fl.Annotations = map[string][]string{}
			}
			fl.Annotations[sourceAnnotation] = []string{l.kind, place}
		}
	}
	return nil
}

// connectionFor returns the connection profile c is to use: the one --connection names
// on the command line, else the one the file's section or top level names; nil if none.
func (f *configFile) connectionFor(c *cobra.Command, own map[string]any) (*fileLayer, error) {
	fl := c.Flags().Lookup("connection")
	if fl == nil {
		return nil, nil
	}
	profiles, _ := f.doc["connections"].(map[string]any)
	var name string
	var path []string
	kind := sourceFile
	switch {
	case fl.Changed && valueSource(fl) == "":
		name, kind = fl.Value.String(), sourceConnection
	case own["connection"] != nil:
		name, _ = own["connection"].(string)
		path = []string{sectionOf(c), "connection"}
	case f.doc["connection"] != nil:
		name, _ = f.doc["connection"].(string)
		path = []string{"connection"}
	default:
		return nil, nil
	}
	values, ok := profiles[name].(map[string]any)
	if !ok {
		have := sortedKeys(profiles)
		msg := "has no [connections." + model.Printable(name) + "]"
		if len(have) > 0 {
			msg += " (it has " + strings.Join(have, ", ") + ")"
		}
		if path == nil {
			return nil, usageErr("--connection %s: config file %s %s", model.Printable(name), f.path, msg)
		}
		return nil, f.errAt(path, "the file %s", msg)
	}
	return &fileLayer{values: values, path: []string{"connections", name}, kind: kind,
		place: "connection " + name + " (config file " + f.path + ")"}, nil
}

// setFromFile sets a flag to a TOML value: a scalar as its text, an array into a list flag.
func setFromFile(fs *pflag.FlagSet, fl *pflag.Flag, v any) error {
	want := fmt.Errorf("want %s", wantOf(fl))
	switch v := v.(type) {
	case map[string]any:
		return errors.New("want a value, not a table")
	case []any:
		sv, ok := fl.Value.(pflag.SliceValue)
		if !ok {
			return fmt.Errorf("takes one value, not a list (want %s)", wantOf(fl))
		}
		texts := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := scalarText(e)
			if !ok {
				return errors.New("want a list of values")
			}
			texts = append(texts, s)
		}
		if len(texts) > 0 {
			if err := fs.Set(fl.Name, texts[0]); err != nil { // marks it set, as the command line would
				return want
			}
		}
		if err := sv.Replace(texts); err != nil {
			return want
		}
		fl.Changed = true
		return nil
	default:
		s, ok := scalarText(v)
		if !ok {
			return want
		}
		if err := fs.Set(fl.Name, s); err != nil {
			return want
		}
		return nil
	}
}

// scalarText is a TOML scalar as a flag's text.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case map[string]any, []any:
		return "", false
	}
	return fmt.Sprint(v), true // dates and times
}

// applyUI takes the file's [keys] and [[watchlist.groups]].
func (f *configFile) applyUI(cfg *Config) error {
	if v, ok := f.doc["keys"]; ok {
		tbl, _ := v.(map[string]any)
		remap := map[string][]string{}
		for _, action := range sortedKeys(tbl) {
			var keys []string
			switch k := tbl[action].(type) {
			case string:
				keys = []string{k}
			case []any:
				for _, e := range k {
					s, ok := e.(string)
					if !ok {
						return f.errAt([]string{"keys", action}, "want a key name or a list of key names")
					}
					keys = append(keys, s)
				}
			default:
				return f.errAt([]string{"keys", action}, "want a key name or a list of key names")
			}
			remap[action] = keys
		}
		km, err := ui.DefaultKeyMap().Remap(remap)
		var ke *ui.KeyError
		if errors.As(err, &ke) {
			return f.errAt([]string{"keys", ke.Action}, "%s", ke.Msg)
		}
		cfg.Keys = &km
	}
	if v, ok := f.doc["watchlist"]; ok {
		tbl, _ := v.(map[string]any)
		for _, k := range sortedKeys(tbl) {
			if k != "groups" {
				return f.errAt([]string{"watchlist", k}, "unknown key; [watchlist] holds groups ([[watchlist.groups]])")
			}
		}
		groups, ok := tbl["groups"].([]any)
		if tbl["groups"] != nil && !ok {
			return f.errAt([]string{"watchlist", "groups"}, "want [[watchlist.groups]] tables")
		}
		cfg.Groups = nil
		for i, g := range groups {
			path := []string{"watchlist", "groups", strconv.Itoa(i)}
			gt, ok := g.(map[string]any)
			if !ok {
				return f.errAt(path, "want a table with name and assets")
			}
			var group ui.WatchGroup
			for _, k := range sortedKeys(gt) {
				switch k {
				case "name":
					group.Name, _ = gt[k].(string)
				case "assets":
					list, _ := gt[k].([]any)
					for _, a := range list {
						if s, ok := a.(string); ok && strings.TrimSpace(s) != "" {
							group.Assets = append(group.Assets, strings.TrimSpace(s))
						} else {
							return f.errAt(append(path, k), "want a list of asset names")
						}
					}
					if len(list) == 0 {
						return f.errAt(append(path, k), "want a list of asset names")
					}
				default:
					return f.errAt(append(path, k), "unknown key; a group has a name and assets")
				}
			}
			switch {
			case strings.TrimSpace(group.Name) == "":
				return f.errAt(path, "a group needs a name")
			case group.Assets == nil:
				return f.errAt(path, "group %q needs assets", group.Name)
			case slices.ContainsFunc(cfg.Groups, func(o ui.WatchGroup) bool { return o.Name == group.Name }):
				return f.errAt(append(path, "name"), "a second group named %q", group.Name)
			}
			cfg.Groups = append(cfg.Groups, group)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// blame names the file's place in a check's error about a flag the file set ("--fps 0:
// want 1 to 60" reads as if typed).
func blame(cmd *cobra.Command, err error) error {
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.HasPrefix(ue.msg, "--") {
		return err
	}
	name := strings.TrimPrefix(ue.msg, "--")
	if i := strings.IndexAny(name, " :="); i >= 0 {
		name = name[:i]
	}
	if fl := cmd.Flags().Lookup(name); fl != nil && valuePlace(fl) != "" {
		return usageErr("%s: %s", valuePlace(fl), ue.msg)
	}
	return err
}
