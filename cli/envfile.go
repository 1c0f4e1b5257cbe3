package cli

import (
	"fmt"
	"os"
	"strings"
)

// parseEnvFile reads an env file as QuFLX's python-dotenv does, so that a value means
// here what it means to QuFLX:
//   - KEY=value, with an optional "export "; blank lines and # comments are skipped; an
//     unquoted value ends at " #" (a comment) and is trimmed;
//   - 'single quoted' values are literal (only \' and \\ are escapes), "double quoted"
//     ones take backslash escapes (\n, \t, \", \\ ...); both may span lines;
//   - ${NAME} and ${NAME:-default} are expanded in unquoted and double-quoted values,
//     from the environment first, then from the names defined above (load_dotenv's
//     default); $NAME without braces is literal: a password "ab$Xc$$d" stays as written.
//
// Errors name the line and the key, never the value: a line that fails to parse may hold
// a password.
func parseEnvFile(text string, env Env) (map[string]string, error) {
	vals := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			line = strings.TrimSpace(rest)
		}
		key, rest, ok := strings.Cut(line, "=")
		key = strings.Trim(strings.TrimSpace(key), `'"`)
		if !ok {
			continue // a name without a value: python-dotenv gives it None
		}
		if key == "" || strings.ContainsAny(key, " \t#") {
			return nil, fmt.Errorf("line %d: not KEY=VALUE", lineNo)
		}
		rest = strings.TrimLeft(rest, " \t")
		var value string
		switch {
		case strings.HasPrefix(rest, "'") || strings.HasPrefix(rest, `"`):
			quote := rest[0]
			body := rest[1:]
			// A quoted value may continue on the next lines, up to its closing quote.
			for {
				if end := closingQuote(body, quote); end >= 0 {
					if tail := strings.TrimSpace(body[end+1:]); tail != "" && !strings.HasPrefix(tail, "#") {
						return nil, fmt.Errorf("line %d: %s: text after the closing quote", lineNo, key)
					}
					body = body[:end]
					break
				}
				if i+1 >= len(lines) {
					return nil, fmt.Errorf("line %d: %s: the quoted value is never closed", lineNo, key)
				}
				i++
				body += "\n" + lines[i]
			}
			if quote == '\'' {
				value = strings.NewReplacer(`\\`, `\`, `\'`, `'`).Replace(body)
			} else {
				value = expand(unescapeDouble(body), env, vals)
			}
		default:
			// A comment starts at whitespace followed by '#'.
			for j := 1; j < len(rest); j++ {
				if rest[j] == '#' && (rest[j-1] == ' ' || rest[j-1] == '\t') {
					rest = rest[:j]
					break
				}
			}
			value = expand(strings.TrimSpace(rest), env, vals)
		}
		vals[key] = value
	}
	return vals, nil
}

// closingQuote returns the index of the unescaped quote ending body, or -1.
func closingQuote(body string, quote byte) int {
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '\\':
			i++
		case quote:
			return i
		}
	}
	return -1
}

// unescapeDouble decodes the escapes of a double-quoted value.
func unescapeDouble(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case '"', '\\', '\'':
			b.WriteByte(s[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// expand replaces ${NAME} and ${NAME:-default} as python-dotenv does: a name holds no
// ':' or '}', anything else like "${X:Y}" is literal, a bare $ is literal, and the
// default applies only when the name is not set at all.
func expand(s string, env Env, defined map[string]string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		start := strings.Index(s, "${")
		if start < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := strings.IndexByte(s[start:], '}')
		if end < 0 {
			b.WriteString(s)
			return b.String()
		}
		inner := s[start+2 : start+end]
		name, def, hasDef := strings.Cut(inner, ":-")
		if strings.Contains(name, ":") || (!hasDef && strings.Contains(inner, ":")) {
			b.WriteString(s[:start+end+1]) // not a variable: as written
			s = s[start+end+1:]
			continue
		}
		b.WriteString(s[:start])
		v, ok := env(name)
		if !ok {
			v, ok = defined[name]
		}
		if !ok && hasDef {
			v = def
		}
		b.WriteString(v)
		s = s[start+end+1:]
	}
}

// readEnvFileValues reads and parses an env file.
func readEnvFileValues(path string, env Env) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseEnvFile(string(b), env)
}
