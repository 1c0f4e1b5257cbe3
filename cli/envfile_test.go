package cli

import (
	"strings"
	"testing"
)

// The env file means here what it means to QuFLX's python-dotenv.
func TestEnvFileAsPythonDotenvReadsIt(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "FROM_ENV" {
			return "env-value", true
		}
		return "", false
	}
	text := "# QuFLX .env.redis\n" +
		"REDIS_HOST=cache.internal   # the box\n" +
		"export REDIS_PORT = 6380\n" +
		"REDIS_PASSWORD=ab$Xc$$d\n" + // $NAME is not expanded by python-dotenv
		"SINGLE='lit ${FROM_ENV} \\' $x'\n" +
		"DOUBLE=\"a\\tb ${FROM_ENV} \\\"q\\\"\"\n" +
		"BRACED=${REDIS_HOST}:${MISSING:-dflt}\n" +
		"HASH=pw#not-a-comment\n" +
		"MULTI=\"line one\nline two\"\n" +
		"NOVALUE\n" +
		"EMPTY=\n" +
		"DEF_UNSET=${NOPE:-dflt}\n" +
		"DEF_EMPTY=${EMPTY:-dflt}\n" +
		"NOTAVAR=pa${X:Y}ss\n" +
		"export\tTABBED=yes\n" +
		"TABCOMMENT=abc\t#c\n" +
		"ESC=\"\\a\\f\"\n"
	vals, err := parseEnvFile(text, env)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"REDIS_HOST":     "cache.internal",
		"REDIS_PORT":     "6380",
		"REDIS_PASSWORD": "ab$Xc$$d",
		"SINGLE":         "lit ${FROM_ENV} ' $x",
		"DOUBLE":         "a\tb env-value \"q\"",
		"BRACED":         "cache.internal:dflt",
		"HASH":           "pw#not-a-comment",
		"MULTI":          "line one\nline two",
		"EMPTY":          "",
		"DEF_UNSET":      "dflt",
		"DEF_EMPTY":      "",
		"NOTAVAR":        "pa${X:Y}ss",
		"TABBED":         "yes",
		"TABCOMMENT":     "abc",
		"ESC":            "\a\f",
	}
	for k, v := range want {
		if vals[k] != v {
			t.Errorf("%s = %q, want %q", k, vals[k], v)
		}
	}
	if _, ok := vals["NOVALUE"]; ok {
		t.Error("a name without = got a value")
	}
}

// A line that does not parse may hold a password: the error names the line and the key.
func TestEnvFileErrorsNeverQuoteValues(t *testing.T) {
	for _, text := range []string{
		"REDIS_PASSWORD=\"S3cretPW never closed\n",
		"REDIS_PASSWORD='S3cretPW' trailing junk\n",
		"bad key=S3cretPW\n",
	} {
		_, err := parseEnvFile(text, func(string) (string, bool) { return "", false })
		if err == nil || strings.Contains(err.Error(), "S3cretPW") || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: error %v", text, err)
		}
	}
}
