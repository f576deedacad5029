package alert

import (
	"regexp"
	"time"
)

// Checks of the open identifiers carried as strings: UUIDs, UN/LOCODEs, HS codes,
// ISO 6346 container numbers, IMO numbers and customs office references.

var (
	moneyAmountRE = regexp.MustCompile(`^\d{1,15}(\.\d{1,2})?$`)
	eoriRE        = regexp.MustCompile(`^[A-Z]{2}[A-Za-z0-9]{1,15}$`)
	languageRE    = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
)

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') }

// ValidUUID reports whether s is a UUID in canonical lower-case form
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx). Any version is accepted; the nil UUID is not.
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	nonZero := false
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
			if c != '0' {
				nonZero = true
			}
		}
	}
	return nonZero
}

// ValidUNLOCODE reports whether s is a well-formed UN/LOCODE: an ISO 3166-1 alpha-2
// country code followed by three characters from [A-Z2-9], e.g. "NLRTM". Whether the
// location exists in the UN/LOCODE list is not checked.
func ValidUNLOCODE(s string) bool {
	if len(s) != 5 || !ValidCountry(s[:2]) {
		return false
	}
	for i := 2; i < 5; i++ {
		c := s[i]
		if !isUpper(c) && (c < '2' || c > '9') {
			return false
		}
	}
	return true
}

// validHSChapter reports whether the first two digits of s name an HS chapter in use
// (01 to 97; chapter 77 is reserved).
func validHSChapter(s string) bool {
	if len(s) < 2 || !isDigit(s[0]) || !isDigit(s[1]) {
		return false
	}
	ch := int(s[0]-'0')*10 + int(s[1]-'0')
	return ch >= 1 && ch <= 97 && ch != 77
}

// ValidHSCode reports whether s is a full Harmonized System code: 6 digits, optionally
// followed by a national extension (8 or 10 digits in all), in a chapter in use.
func ValidHSCode(s string) bool {
	switch len(s) {
	case 6, 8, 10:
		return allDigits(s) && validHSChapter(s)
	}
	return false
}

// validHSCodeOrPrefix accepts a full HS code or a chapter (2 digits) or heading
// (4 digits) prefix, as used in risk alerts and indicators.
func validHSCodeOrPrefix(s string) bool {
	switch len(s) {
	case 2, 4, 6, 8, 10:
		return allDigits(s) && validHSChapter(s)
	}
	return false
}

// ValidHSPrefix reports whether s is usable as an HS code prefix in a filter: 1 to 10
// digits. The chapter is not checked since one digit cannot name it.
func ValidHSPrefix(s string) bool {
	return len(s) >= 1 && len(s) <= 10 && allDigits(s)
}

// iso6346Values holds the ISO 6346 value of each letter A to Z: counting up from 10 and
// skipping multiples of 11.
var iso6346Values = func() [26]int {
	var t [26]int
	v := 10
	for i := range t {
		if v%11 == 0 {
			v++
		}
		t[i] = v
		v++
	}
	return t
}()

// ContainerCheckDigit computes the ISO 6346 check digit of prefix10, the owner code and
// category identifier (four upper-case letters) followed by the six-digit serial number.
// It reports false when prefix10 is not of that form.
func ContainerCheckDigit(prefix10 string) (int, bool) {
	if len(prefix10) != 10 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := prefix10[i]
		var v int
		switch {
		case i < 4 && isUpper(c):
			v = iso6346Values[c-'A']
		case i >= 4 && isDigit(c):
			v = int(c - '0')
		default:
			return 0, false
		}
		sum += v << i
	}
	return sum % 11 % 10, true
}

// ValidContainerNumber reports whether s is an ISO 6346 container number with a correct
// check digit, e.g. "CSQU3054383". The category identifier (fourth letter) must be U
// (freight container), J (detachable equipment) or Z (trailer or chassis).
func ValidContainerNumber(s string) bool {
	if len(s) != 11 || !validContainerPrefix(s[:4]) || !isDigit(s[10]) {
		return false
	}
	d, ok := ContainerCheckDigit(s[:10])
	return ok && d == int(s[10]-'0')
}

// validContainerPrefix reports whether s is an ISO 6346 owner code and category
// identifier: three letters followed by U, J or Z.
func validContainerPrefix(s string) bool {
	if len(s) != 4 || !isUpper(s[0]) || !isUpper(s[1]) || !isUpper(s[2]) {
		return false
	}
	return s[3] == 'U' || s[3] == 'J' || s[3] == 'Z'
}

// ValidIMO reports whether s is an IMO ship identification number: seven digits, the
// last being the check digit (the sum of the first six digits weighted 7 down to 2,
// modulo 10). A leading "IMO" is not accepted; Normalize removes it.
func ValidIMO(s string) bool {
	if len(s) != 7 || !allDigits(s) {
		return false
	}
	sum := 0
	for i := 0; i < 6; i++ {
		sum += int(s[i]-'0') * (7 - i)
	}
	return sum%10 == int(s[6]-'0')
}

// validOffice reports whether s is a customs office reference number: an ISO 3166-1
// alpha-2 code followed by six upper-case letters or digits, e.g. "NL000396".
func validOffice(s string) bool {
	if len(s) != 8 || !ValidCountry(s[:2]) {
		return false
	}
	for i := 2; i < 8; i++ {
		if !isUpper(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// validDate reports whether s is a calendar date in the form YYYY-MM-DD.
func validDate(s string) (time.Time, bool) {
	if len(s) != 10 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}
