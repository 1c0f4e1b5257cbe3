package model

import (
	"net/url"
	"slices"
	"strings"
)

// isSecretParam reports whether a URL query parameter holds a secret (any case: libpq
// and go-redis take them so).
func isSecretParam(name string) bool {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "password", "sslpassword", "pass", "passwd":
		return true
	}
	return false
}

// URLSecrets returns the secrets a connection URL or DSN holds (the user-info password,
// password and sslpassword parameters), as written and as decoded, for scrubbing texts
// that may quote it. It errs on the side of taking too much: the user info runs from the
// scheme to the last '@' of the whole text, since a password may hold '/', '?', '#' or
// '@' that a URL parser would stop at (and libpq accepts), and URLs a parser refuses are
// the ones whose errors echo them.
func URLSecrets(raw string) []string {
	var out []string
	add := func(s string) {
		// A one- or two-character "secret" would scrub half of every message.
		if len(s) >= 3 && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	addBoth := func(s string, unescape func(string) (string, error)) {
		add(s)
		if dec, err := unescape(s); err == nil {
			add(dec)
		}
	}
	if i := strings.Index(raw, ":/"); i >= 0 {
		rest := strings.TrimLeft(raw[i+1:], "/")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				addBoth(pw, url.PathUnescape)
			}
		}
	}
	if _, query, ok := strings.Cut(raw, "?"); ok {
		for _, kv := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
			if k, v, ok := strings.Cut(kv, "="); ok && isSecretParam(k) {
				addBoth(strings.TrimRight(v, "#"), url.QueryUnescape)
			}
		}
	}
	return out
}

// Scrub returns text with every secret replaced by ***.
func Scrub(text string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 3 {
			text = strings.ReplaceAll(text, s, "***")
		}
	}
	return text
}

// RedactURL returns a connection URL fit to show: its password and secret parameters
// replaced by ***, whether or not it parses. What a parser might read differently from
// the server (a password holding '#', '?' or '/') is scrubbed as well.
func RedactURL(raw string) string {
	secrets := URLSecrets(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return Scrub(raw, secrets...)
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxredactedxxx")
		}
	}
	if u.RawQuery != "" {
		parts := strings.FieldsFunc(u.RawQuery, func(r rune) bool { return r == '&' || r == ';' })
		for i, kv := range parts {
			if k, _, ok := strings.Cut(kv, "="); ok && isSecretParam(k) {
				parts[i] = k + "=xxxredactedxxx"
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return Scrub(strings.ReplaceAll(u.String(), "xxxredactedxxx", "***"), secrets...)
}
