package replay

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeapi"
	"github.com/closesink/closesink/transform"
)

// Preview says what replaying a record would do, for --dry-run. It mirrors
// pipeline.Process without any I/O. Safe for concurrent use.
type Preview struct {
	Transformer *transform.Transformer
	// MaxRecordBytes as in pipeline.Config; 0 means the pipeline default.
	MaxRecordBytes int
	// ShowPII prints emails, phones and names in full.
	ShowPII bool
}

// Describe returns one line: "send <lead JSON>", "drop <reason>" or
// "dead-letter invalid_event: <reason>". It never panics on any value.
func (p Preview) Describe(value []byte) string {
	limit := p.MaxRecordBytes
	if limit <= 0 {
		limit = pipeline.DefaultMaxRecordBytes
	}
	if len(value) > limit {
		return fmt.Sprintf("dead-letter invalid_event: record value is %d bytes, over the %d-byte limit", len(value), limit)
	}
	res := p.Transformer.Transform(value)
	switch res.Kind {
	case transform.KindDropped:
		return "drop " + string(res.Drop)
	case transform.KindInvalid:
		return "dead-letter invalid_event: " + p.maskText(res.Err.Error())
	}
	lead := *res.Lead
	if !p.ShowPII {
		lead = maskLead(lead)
	}
	body, err := lead.MarshalJSON()
	if err != nil {
		return "dead-letter invalid_event: encoding lead: " + err.Error()
	}
	return "send " + string(body)
}

func (p Preview) maskText(s string) string {
	if p.ShowPII {
		return s
	}
	return MaskEmails(s)
}

var emailLike = regexp.MustCompile(`[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+`)

// MaskEmails masks every email address inside a text (an error message may
// quote one) with transform.MaskEmail.
func MaskEmails(s string) string { return emailLike.ReplaceAllStringFunc(s, transform.MaskEmail) }

// maskLead returns a copy of l with contact names, emails and phones
// masked, and the lead name too when it is personal (the email, or a part of
// the contact's name: the transform falls back to lastName, then email,
// when there is no company).
func maskLead(l closeapi.Lead) closeapi.Lead {
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
			e.Email = transform.MaskEmail(e.Email)
			emails[j] = e
		}
		c.Emails = emails
		phones := make([]closeapi.Phone, len(c.Phones))
		for j, ph := range c.Phones {
			ph.Phone = maskPhone(ph.Phone)
			phones[j] = ph
		}
		c.Phones = phones
		contacts[i] = c
	}
	l.Contacts = contacts
	switch {
	case strings.Contains(l.Name, "@"):
		l.Name = transform.MaskEmail(l.Name)
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

// maskPhone keeps the leading "+" and the last two digits.
func maskPhone(s string) string {
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
