package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/quflx/quflx-tui/model"
)

// The config file: TOML whose keys are flag names. Top-level keys apply to every command
// that has the flag, a command's section ([dashboard] for the dashboard, [flush], ...) to
// that command, a connection profile ([connections.NAME], chosen with --connection NAME)
// above both; the command line overrides all of it (configapply.go). Besides flags:
// [keys] remaps the dashboard's keys, [[watchlist.groups]] are the watchlist's tabs.

// configFile is a config file as read: its values, and the line of every key for errors.
type configFile struct {
	path  string
	doc   map[string]any
	lines map[string]int // keyPath(path...): the line the key is on
}

// keySep joins the parts of a key's path (a TOML key may hold dots).
const keySep = "\x1f"

func keyPath(parts ...string) string { return strings.Join(parts, keySep) }

// configPath is the config file to read: --config, else $XDG_CONFIG_HOME/quflx-tui/
// config.toml, else ~/.config/quflx-tui/config.toml; explicit says --config named it
// (then it must exist). "" when there is no home to look in.
func configPath(flag string, env Env) (path string, explicit bool) {
	if flag != "" {
		return flag, true
	}
	// A relative XDG_CONFIG_HOME is invalid (XDG Base Directory spec): ignored.
	if dir, ok := env("XDG_CONFIG_HOME"); ok && filepath.IsAbs(dir) {
		return filepath.Join(dir, "quflx-tui", "config.toml"), false
	}
	if home, ok := env("HOME"); ok && home != "" {
		return filepath.Join(home, ".config", "quflx-tui", "config.toml"), false
	}
	return "", false
}

// readConfigFile reads and checks the config file at path: nil when there is none at the
// default place. A file holding a secret must be readable by its owner alone.
func readConfigFile(path string, explicit bool) (*configFile, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return nil, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usageErr("--config %s: no such file", path)
		}
		return nil, usageErr("config file %s: %v", path, errors.Unwrap(err))
	}
	f, err := parseConfig(path, data)
	if err != nil {
		return nil, err
	}
	if secret := f.firstSecret(); secret != nil {
		info, err := os.Stat(path)
		if err != nil {
			return nil, usageErr("config file %s: %v", path, errors.Unwrap(err))
		}
		// As ssh does with a private key: group or others may not read (nor write) it.
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			return nil, usageErr("config file %s holds a secret (%s, line %d) but its permissions %04o let others "+
				"read it; run: chmod 600 %s", path, displayKey(secret), f.line(secret...), perm, path)
		}
	}
	return f, nil
}

// parseConfig parses the TOML text of a config file. A syntax error names the line and
// the key, never the text (it may be a password).
func parseConfig(path string, data []byte) (*configFile, error) {
	f := &configFile{path: path, doc: map[string]any{}}
	if err := toml.Unmarshal(data, &f.doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			// The parser's message may quote the text it stumbled on: a password's.
			msg := quoted.ReplaceAllString(strings.TrimPrefix(de.Error(), "toml: "), "a character")
			if k := de.Key(); len(k) > 0 {
				msg = displayKey(k) + ": " + msg
			} else if k := keyOnLine(data, row); k != "" {
				msg = k + ": " + msg
			}
			return nil, usageErr("config file %s, line %d: %s", path, row, msg)
		}
		return nil, usageErr("config file %s: not TOML", path)
	}
	f.lines = keyLines(data)
	return f, nil
}

// quoted is what a parser message quotes: U+0078 'x', "text".
var quoted = regexp.MustCompile(`(U\+[0-9A-Fa-f]+ )?('[^']*'|"[^"]*")`)

// keyOnLine is the bare key a line starts with ("" if none): what a syntax error on it
// can name without quoting the value.
func keyOnLine(data []byte, row int) string {
	lines := strings.Split(string(data), "\n")
	if row < 1 || row > len(lines) {
		return ""
	}
	k, _, ok := strings.Cut(lines[row-1], "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" || strings.ContainsFunc(k, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return ""
	}
	return k
}

// keyLines maps every key of the document (tables, array elements by index) to its line.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	lineOf := func(n *unstable.Node) int {
		if n.Raw.Length == 0 && n.Raw.Offset == 0 {
			return 0
		}
		return p.Shape(n.Raw).Start.Line
	}
	keyOf := func(n *unstable.Node) ([]string, int) {
		var parts []string
		line := 0
		for it := n.Key(); it.Next(); {
			if line == 0 {
				line = lineOf(it.Node())
			}
			parts = append(parts, string(it.Node().Data))
		}
		return parts, line
	}
	record := func(path []string, line int) {
		for i := range path {
			if k := keyPath(path[:i+1]...); lines[k] == 0 {
				lines[k] = line
			}
		}
	}
	var value func(path []string, v *unstable.Node, line int)
	keyValue := func(prefix []string, kv *unstable.Node) {
		parts, line := keyOf(kv)
		path := append(append([]string{}, prefix...), parts...)
		record(path, line)
		value(path, kv.Value(), line)
	}
	value = func(path []string, v *unstable.Node, line int) {
		switch v.Kind {
		case unstable.InlineTable:
			for it := v.Children(); it.Next(); {
				keyValue(path, it.Node())
			}
		case unstable.Array:
			i := 0
			for it := v.Children(); it.Next(); i++ {
				el := append(append([]string{}, path...), strconv.Itoa(i))
				if l := lineOf(it.Node()); l > 0 {
					line = l
				}
				record(el, line)
				value(el, it.Node(), line)
			}
		}
	}
	var table []string
	arrays := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			var line int
			table, line = keyOf(e)
			record(table, line)
		case unstable.ArrayTable:
			parts, line := keyOf(e)
			k := keyPath(parts...)
			table = append(parts, strconv.Itoa(arrays[k]))
			arrays[k]++
			record(table, line)
		case unstable.KeyValue:
			keyValue(table, e)
		}
	}
	return lines
}

// line is the line of a key (0 if unknown).
func (f *configFile) line(path ...string) int { return f.lines[keyPath(path...)] }

// displayKey writes a key's path as TOML would: a.b, with array elements as [i].
func displayKey(path []string) string {
	var sb strings.Builder
	for i, p := range path {
		if _, err := strconv.Atoi(p); err == nil && i > 0 {
			sb.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(p)
	}
	return sb.String()
}

// errAt is a usage error at a key of the file: its path, line and key are named; the
// value never is.
func (f *configFile) errAt(path []string, format string, args ...any) error {
	where := "config file " + f.path
	if l := f.line(path...); l > 0 {
		where += ", line " + strconv.Itoa(l)
	}
	return usageErr("%s: %s: %s", where, displayKey(path), fmt.Sprintf(format, args...))
}

// isSecretKey says whether a key's value is a secret whatever it holds.
func isSecretKey(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"password", "passwd", "secret", "token"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// isSecretValue says whether a value under key name is a secret, or holds one (a URL or
// DSN with a password).
func isSecretValue(name string, v any) bool {
	switch v := v.(type) {
	case string:
		return v != "" && (isSecretKey(name) || len(model.URLSecrets(v)) > 0)
	case []any:
		for _, e := range v {
			if isSecretValue(name, e) {
				return true
			}
		}
	}
	return false
}

// firstSecret returns the path of the first key (in the file's order) holding a secret.
func (f *configFile) firstSecret() []string {
	var found []string
	foundLine := 0
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		child := func(k string) []string { return append(append([]string{}, path...), k) }
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(child(k), e)
			}
			return
		case []any:
			for i, e := range v {
				if _, ok := e.(map[string]any); ok {
					walk(child(strconv.Itoa(i)), e)
				}
			}
		}
		if len(path) == 0 || !isSecretValue(path[len(path)-1], v) {
			return
		}
		if l := f.line(path...); found == nil || l < foundLine {
			found, foundLine = path, l
		}
	}
	walk(nil, f.doc)
	return found
}

// redactValue is a value fit to print: a secret key's value as ***, a URL's password
// and secret parameters as ***.
func redactValue(name, v string) string {
	switch {
	case v == "":
		return v
	case isSecretKey(name):
		return "***"
	case strings.Contains(v, "://") || len(model.URLSecrets(v)) > 0:
		// Every URL, not only those with a secret long enough to scrub from a text: a
		// two-letter password is still a password.
		return model.RedactURL(v)
	}
	return v
}
