package model

import (
	"strings"
	"testing"
)

// Passwords as they come: with the characters URL parsers trip on, in the forms a
// parser refuses, in query parameters of any case and separator.
func TestURLSecretsAndRedaction(t *testing.T) {
	cases := map[string]string{ // URL -> the secret it holds
		"redis://u:S3cret-1@h:6379/0":                       "S3cret-1",
		"postgres://u:pw#Secret9@127.0.0.1:5432/db":         "pw#Secret9",
		"postgres://u:pw?Secret9@127.0.0.1/db":              "pw?Secret9",
		"redis://u:ab/cdSecret@host":                        "ab/cdSecret",
		"redis://u:p@ss@w0rd@host:6379":                     "p@ss@w0rd",
		"postgres://u@h/db?sslmode=require;password=s3cr3t": "s3cr3t",
		"postgres://u@h/db?pAssWord=s3cr3t&x=1":             "s3cr3t",
		"postgres://u@h/db?sslpassword=k3yPass":             "k3yPass",
		"redis:/u:singleSlashSecret@host:x":                 "singleSlashSecret",
		"redis://u:%41bcSecret@h":                           "AbcSecret",
	}
	for raw, secret := range cases {
		if got := RedactURL(raw); strings.Contains(got, secret) {
			t.Errorf("RedactURL(%q) = %q", raw, got)
		}
		if got := Scrub("error near "+raw, URLSecrets(raw)...); strings.Contains(got, secret) {
			t.Errorf("scrubbing %q left %q", raw, got)
		}
	}
	if got := RedactURL("postgres://quflx@db.example.com:5432/quflx?sslmode=require"); got != "postgres://quflx@db.example.com:5432/quflx?sslmode=require" {
		t.Errorf("a URL without a secret changed: %q", got)
	}
}
