package redisdata

import (
	"fmt"
	"strings"
)

// HashTag returns the part of key that Redis Cluster hashes to pick its slot: the text
// between the first "{" and the next "}" when that is not empty, else the whole key.
func HashTag(key string) string {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			return key[open+1 : open+1+end]
		}
	}
	return key
}

// slotCompanion returns a key prefix that hashes to the same cluster slot as key:
// prefix + "{" + tag + "}", followed by key itself when key carries its own hash tag (so
// that two buffers sharing a tag keep apart). A key without a tag but with braces in it
// (such as "a{}b") cannot be given a companion, since its braces would become the tag.
func slotCompanion(prefix, key string) (string, error) {
	tag := HashTag(key)
	if tag == key {
		if strings.ContainsAny(key, "{}") {
			return "", fmt.Errorf("key %q has braces but no hash tag: no key can share its cluster slot", key)
		}
		return prefix + "{" + key + "}", nil
	}
	return prefix + "{" + tag + "}:" + key, nil
}

// companionKey is the inverse of slotCompanion: the key a companion prefix was made for.
func companionKey(prefix, companion string) (string, bool) {
	rest, ok := strings.CutPrefix(companion, prefix+"{")
	if !ok {
		return "", false
	}
	end := strings.IndexByte(rest, '}')
	if end <= 0 {
		return "", false
	}
	tag, after := rest[:end], rest[end+1:]
	if after == "" {
		return tag, true
	}
	key, ok := strings.CutPrefix(after, ":")
	if !ok || HashTag(key) != tag {
		return "", false
	}
	return key, true
}
