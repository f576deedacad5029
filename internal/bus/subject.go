package bus

import (
	"fmt"
	"strings"
)

// AlertSubjectPrefix starts every alert subject.
const AlertSubjectPrefix = "cix.alert.v1."

// AlertSubject returns the subject an alert is published on.
func AlertSubject(origin, kind, id string) string {
	return AlertSubjectPrefix + origin + "." + kind + "." + id
}

// AlertSubjectFilter returns a subject filter for an origin and a kind, either of which
// may be empty for any.
func AlertSubjectFilter(origin, kind string) string {
	if origin == "" {
		origin = "*"
	}
	if kind == "" {
		kind = "*"
	}
	return AlertSubjectPrefix + origin + "." + kind + ".*"
}

// ParseAlertSubject splits an alert subject into origin, kind and id. It checks the shape
// only (two upper-case letters, a lower-case kind word, an id token); the caller checks the
// values against the signed payload.
func ParseAlertSubject(subject string) (origin, kind, id string, err error) {
	rest, ok := strings.CutPrefix(subject, AlertSubjectPrefix)
	if !ok {
		return "", "", "", fmt.Errorf("subject %q is not an alert subject", clip(subject))
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("subject %q: want %s<ORIGIN>.<kind>.<id>", clip(subject), AlertSubjectPrefix)
	}
	origin, kind, id = parts[0], parts[1], parts[2]
	if len(origin) != 2 || !isUpper(origin) {
		return "", "", "", fmt.Errorf("subject %q: origin %q is not two upper-case letters", clip(subject), clip(origin))
	}
	if kind == "" || !isLowerWord(kind) {
		return "", "", "", fmt.Errorf("subject %q: malformed kind", clip(subject))
	}
	if id == "" || len(id) > 64 {
		return "", "", "", fmt.Errorf("subject %q: malformed id", clip(subject))
	}
	return origin, kind, id, nil
}

func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isLowerWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < 'a' || s[i] > 'z') && s[i] != '_' {
			return false
		}
	}
	return len(s) <= 32
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
