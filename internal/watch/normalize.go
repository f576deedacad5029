package watch

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cix-exchange/cix/internal/alert"
	analystv1 "github.com/cix-exchange/cix/internal/gen/cix/analyst/v1"
	"golang.org/x/text/unicode/norm"
)

// Limits of an entry.
const (
	// MaxValue is the longest value or label, in characters.
	MaxValue = 256
	// MaxPhrase is the most words of a free-text entry.
	MaxPhrase = 8
)

// Normalize checks value for kind and returns the form it is matched in. The error
// says what is wrong with the value, for a field violation.
func Normalize(kind analystv1.WatchKind, value string) (string, error) {
	value = strings.TrimSpace(value)
	switch {
	case value == "":
		return "", fmt.Errorf("is required")
	case !utf8.ValidString(value):
		return "", fmt.Errorf("must be valid UTF-8")
	case utf8.RuneCountInString(value) > MaxValue:
		return "", fmt.Errorf("longer than %d characters", MaxValue)
	}
	switch kind {
	case analystv1.WatchKind_WATCH_KIND_CONTAINER:
		n := containerKey(value)
		if !alert.ValidContainerNumber(n) {
			return "", fmt.Errorf("%q is not an ISO 6346 container number with a correct check digit", value)
		}
		return n, nil
	case analystv1.WatchKind_WATCH_KIND_IMO:
		n := imoKey(value)
		if !alert.ValidIMO(n) {
			return "", fmt.Errorf("%q is not an IMO number (seven digits with check digit)", value)
		}
		return n, nil
	case analystv1.WatchKind_WATCH_KIND_VESSEL_NAME, analystv1.WatchKind_WATCH_KIND_COMPANY:
		n := nameKey(value)
		if n == "" {
			return "", fmt.Errorf("%q has no letters or digits", value)
		}
		return n, nil
	case analystv1.WatchKind_WATCH_KIND_PERSON_DOCUMENT:
		n := documentKey(value)
		if n == "" {
			return "", fmt.Errorf("%q has no letters or digits", value)
		}
		return n, nil
	case analystv1.WatchKind_WATCH_KIND_HS_ROUTE:
		hs, country, ok := strings.Cut(value, ":")
		if !ok {
			return "", fmt.Errorf("%q is not PREFIX:COUNTRY, e.g. 2939:EC", value)
		}
		hs = strings.NewReplacer(".", "", " ", "").Replace(hs)
		country = strings.ToUpper(strings.TrimSpace(country))
		if !alert.ValidHSPrefix(hs) {
			return "", fmt.Errorf("%q is not an HS code prefix of 1 to 10 digits", hs)
		}
		if !alert.ValidCountry(country) {
			return "", fmt.Errorf("%q is not an ISO 3166-1 alpha-2 country code", country)
		}
		return hs + ":" + country, nil
	case analystv1.WatchKind_WATCH_KIND_TEXT:
		words := Words(value)
		switch {
		case len(words) == 0:
			return "", fmt.Errorf("%q has no words", value)
		case len(words) > MaxPhrase:
			return "", fmt.Errorf("at most %d words", MaxPhrase)
		}
		return strings.Join(words, " "), nil
	}
	return "", fmt.Errorf("unknown kind %d", kind)
}

// containerKey upper-cases s and removes spaces and hyphens, as alert.Normalize does.
func containerKey(s string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s)))
}

// imoKey removes spaces and an "IMO" prefix.
func imoKey(s string) string {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	return strings.TrimPrefix(s, "IMO")
}

// documentKey keeps the letters (upper-cased) and digits of an identity document
// number.
func documentKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsLetter(r):
			b.WriteRune(unicode.ToUpper(r))
		case unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// nameKey folds a vessel or company name: letters without accents, lower-cased, and
// digits, nothing else ("Sunrise Distribution B.V." becomes "sunrisedistributionbv").
func nameKey(s string) string { return strings.Join(Words(s), "") }

// Words splits s into lower-case words of letters and digits, with accents removed;
// everything else separates words.
func Words(s string) []string {
	var words []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			words = append(words, b.String())
			b.Reset()
		}
	}
	if !isPlainASCII(s) {
		s = norm.NFD.String(s)
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r): // a combining accent of the letter before
		case unicode.IsLetter(r):
			b.WriteRune(unicode.ToLower(r))
		case unicode.IsDigit(r):
			b.WriteRune(r)
		case r == '\'' || r == '’' || r == '.':
			// inside a word ("O'Brien", "B.V."): joins its parts
		default:
			flush()
		}
	}
	flush()
	return words
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
