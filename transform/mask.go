package transform

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/closesink/closesink/pkg/closeapi"
)

// Masking is the one place that hides personal data for logs and CLI output
// (the worker's log lines, the DLQ inspection and the replay preview):
// emails, phones and names are identity fields, and logs must not print
// them unless the operator opts in.

// MaskEmail hides an address for logs and CLI output, keeping its first
// character and domain: "jane.doe@acme.com" becomes "j***@acme.com".
// Anything without a usable local part and domain becomes "***". It never
// panics and its output is always valid UTF-8. Safe for concurrent use.
func MaskEmail(s string) string {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "***"
	}
	domain := strings.ToValidUTF8(s[at+1:], "\uFFFD")
	first, size := utf8.DecodeRuneInString(s)
	if first == utf8.RuneError && size <= 1 || !unicode.IsPrint(first) {
		return "***@" + domain
	}
	return string(first) + "***@" + domain
}

// emailLike finds email-shaped words inside free text (Close's error
// messages and the transform's own errors may quote the bad value).
var emailLike = regexp.MustCompile(`[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+`)

// phoneLike finds phone-shaped runs: international (+ and 7 or more digits,
// separators allowed) or grouped national ones (555-123-4567, (555) 123 4567).
var phoneLike = regexp.MustCompile(`\+\d[\d ().-]{5,}\d|\(?\d{2,4}\)?[ .-]\d{3,4}[ .-]\d{3,4}\b`)

// longDigits are runs of 7 or more digits: masked only in a text that talks
// about phones, since sizes and offsets are long numbers too.
var longDigits = regexp.MustCompile(`\d{7,}`)

// MaskText masks every email address and phone number inside a text (Close's
// error messages and the transform's own errors may quote the bad value):
// emails with MaskEmail, phones with MaskPhone.
func MaskText(s string) string {
	s = emailLike.ReplaceAllStringFunc(s, MaskEmail)
	s = phoneLike.ReplaceAllStringFunc(s, MaskPhone)
	if strings.Contains(strings.ToLower(s), "phone") {
		s = longDigits.ReplaceAllStringFunc(s, MaskPhone)
	}
	return s
}

// MaskLead returns a copy of l with contact names, emails and phones
// masked, and the lead name too when it is personal (the email, or a part of
// the contact's name: the transform falls back to lastName, then email,
// when there is no company).
func MaskLead(l closeapi.Lead) closeapi.Lead {
	personal := map[string]bool{}
	contacts := make([]closeapi.Contact, len(l.Contacts))
	for i, c := range l.Contacts {
		for _, w := range strings.Fields(c.Name) {
			personal[w] = true
		}
		if c.Name != "" {
			personal[c.Name] = true
		}
		c.Name = maskName(c.Name)
		emails := make([]closeapi.Email, len(c.Emails))
		for j, e := range c.Emails {
			personal[e.Email] = true
			e.Email = MaskEmail(e.Email)
			emails[j] = e
		}
		c.Emails = emails
		phones := make([]closeapi.Phone, len(c.Phones))
		for j, ph := range c.Phones {
			ph.Phone = MaskPhone(ph.Phone)
			phones[j] = ph
		}
		c.Phones = phones
		contacts[i] = c
	}
	l.Contacts = contacts
	switch {
	case strings.Contains(l.Name, "@"):
		l.Name = MaskEmail(l.Name)
	case personal[l.Name]:
		l.Name = maskName(l.Name)
	}
	return l
}

// maskName keeps the first letter of each word: "Jane Doe" -> "J*** D***".
func maskName(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		words[i] = string(r) + "***"
	}
	return strings.Join(words, " ")
}

// MaskPhone keeps the leading "+" and the last two digits.
func MaskPhone(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= 4 {
		return "***"
	}
	var b strings.Builder
	i := 0
	for _, r := range s {
		switch {
		case i == 0 && r == '+', i >= n-2:
			b.WriteRune(r)
		default:
			b.WriteByte('*')
		}
		i++
	}
	return b.String()
}
