package transform

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// MaxTextLen is the longest name or title, in characters (Unicode code
// points), that Close accepts. Longer values are cut to this length at a
// character boundary, never inside a UTF-8 sequence.
const MaxTextLen = 1000

// text returns a trimmed string trait, or "" when the value is absent, null
// or not a string: a number given as a title is treated as no title.
func text(raw []byte) string {
	if !isString(raw) {
		return ""
	}
	return strings.TrimSpace(decodeString(raw))
}

// truncateRunes cuts s to at most n code points. s must be valid UTF-8
// (decodeString guarantees it), so the cut lands on a character boundary.
func truncateRunes(s string, n int) string {
	if len(s) <= n { // fewer bytes than n means fewer runes too
		return s
	}
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}

// contactName joins first and last name ("either alone works"), falling
// back to the name trait.
func contactName(first, last, full string) string {
	switch {
	case first != "" && last != "":
		return first + " " + last
	case first != "":
		return first
	case last != "":
		return last
	default:
		return full
	}
}

// Email rules. Close needs an address a salesperson can write to, so this is
// the practical syntax (WHATWG's "valid e-mail address", extended to
// internationalised letters), not the full RFC 5322 grammar: no quoted local
// parts, comments or IP-literal domains, which never come from web forms.
const (
	maxEmailLen      = 254
	maxLocalPartLen  = 64
	maxDomainLabelLn = 63
)

// atext are the ASCII characters allowed in a local part besides '.'.
var atext = func() (t [utf8.RuneSelf]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+/=?^_`{|}~-" {
		t[c] = true
	}
	return t
}()

// wordRune accepts non-ASCII letters, digits and combining marks (names and
// IDN domains in any script). U+FFFD, what invalid UTF-8 decodes to, is a
// symbol and so is rejected.
func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// validEmail reports whether s, already trimmed and lowercased, is an
// address closesink will send to Close.
func validEmail(s string) bool {
	if len(s) > maxEmailLen {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') {
		return false
	}
	return validLocalPart(s[:at]) && validDomain(s[at+1:])
}

func validLocalPart(local string) bool {
	if local == "" || len(local) > maxLocalPartLen ||
		local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for _, r := range local {
		if r < utf8.RuneSelf {
			if !atext[r] && r != '.' {
				return false
			}
		} else if !wordRune(r) {
			return false
		}
	}
	return true
}

func validDomain(domain string) bool {
	if domain == "" || len(domain) > maxEmailLen {
		return false
	}
	labels := 0
	allDigitsTLD := false
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || len(label) > maxDomainLabelLn || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		allDigits := true
		for _, r := range label {
			switch {
			case r >= '0' && r <= '9':
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-':
				allDigits = false
			case r >= utf8.RuneSelf && wordRune(r):
				allDigits = false
			default:
				return false
			}
		}
		labels++
		allDigitsTLD = allDigits
	}
	// A bare host ("jane@localhost") or a numeric TLD ("jane@10.0.0.1") is
	// not an address a lead can be reached at.
	return labels >= 2 && !allDigitsTLD
}

// normalizePhone formats a phone trait as E.164 using region for numbers
// without a country code. It returns the number, or "" and the reason it was
// left out. Numbers that phonenumbers calls possible but not valid are kept
// on purpose: the product page's own example (+44 7700 900123) is in a range
// reserved for fiction and must still be delivered, and Close stores numbers
// it cannot validate.
func normalizePhone(raw []byte, region string) (e164, issue string) {
	if !present(raw) {
		return "", ""
	}
	if !isString(raw) {
		return "", PhoneIssueWrongType
	}
	s := strings.TrimSpace(decodeString(raw))
	if s == "" {
		return "", ""
	}
	return parsePhone(s, region)
}

func parsePhone(s, region string) (e164, issue string) {
	// phonenumbers is a port of a large Java library driven by regular
	// expressions; a panic inside it on some hostile input must cost the
	// phone number, not the worker.
	defer func() {
		if recover() != nil {
			e164, issue = "", PhoneIssueNotANumber
		}
	}()
	var num phonenumbers.PhoneNumber
	if err := phonenumbers.ParseToNumber(s, region, &num); err != nil {
		return "", PhoneIssueNotANumber
	}
	// IsPossibleNumber would also accept IS_POSSIBLE_LOCAL_ONLY: a number
	// missing its area code ("555 0132" in the US), whose E.164 form would
	// be a different, wrong number. Only a complete possible number is sent.
	if phonenumbers.IsPossibleNumberWithReason(&num) != phonenumbers.IS_POSSIBLE {
		return "", PhoneIssueInvalid
	}
	return phonenumbers.Format(&num, phonenumbers.E164), ""
}
