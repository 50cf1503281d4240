package closeemu

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/closesink/closesink/pkg/closeapi"
)

// storedLead is an immutable rendering of a lead's current state, so readers
// may use it without holding the Server's lock. Every change to the lead or
// one of its contacts replaces it (see leadRec.render).
type storedLead struct {
	view closeapi.CreatedLead
	// json is the exact body of GET /lead/{id}/ (and of the create's 200,
	// while the lead is unchanged).
	json []byte
}

// leadJSON is the Close-shaped lead body; custom fields are spliced in after
// marshalling because they are flat "custom.<id>" keys.
type leadJSON struct {
	ID             string        `json:"id"`
	Name           string        `json:"name"`
	DisplayName    string        `json:"display_name"`
	StatusID       string        `json:"status_id"`
	StatusLabel    string        `json:"status_label"`
	Description    string        `json:"description"`
	URL            *string       `json:"url"`
	OrganizationID string        `json:"organization_id"`
	DateCreated    string        `json:"date_created"`
	DateUpdated    string        `json:"date_updated"`
	HTMLURL        string        `json:"html_url"`
	ContactIDs     []string      `json:"contact_ids"`
	Contacts       []contactJSON `json:"contacts"`
}

type contactJSON struct {
	ID             string      `json:"id"`
	LeadID         string      `json:"lead_id"`
	OrganizationID string      `json:"organization_id"`
	Name           string      `json:"name"`
	DisplayName    string      `json:"display_name"`
	Title          string      `json:"title"`
	DateCreated    string      `json:"date_created"`
	Emails         []emailJSON `json:"emails"`
	Phones         []phoneJSON `json:"phones"`
}

type emailJSON struct {
	Email          string `json:"email"`
	Type           string `json:"type"`
	IsUnsubscribed bool   `json:"is_unsubscribed"`
}

type phoneJSON struct {
	Phone          string `json:"phone"`
	PhoneFormatted string `json:"phone_formatted"`
	Type           string `json:"type"`
}

// closeTimeLayout is how Close writes timestamps: microseconds and an explicit
// +00:00 offset rather than Z.
const closeTimeLayout = "2006-01-02T15:04:05.000000-07:00"

// defaultContactType is the type Close gives emails and phones sent without one.
const defaultContactType = "office"

// buildLead turns a validated request into the lead and contact records to
// store, with the lead rendered (rec.snap is the 200 body).
func buildLead(req *leadRequest, statusID, statusLabel, orgID string, now time.Time) (*leadRec, []*contactRec, error) {
	created := now.UTC().Format(closeTimeLayout)
	lj := leadJSON{
		ID:             newID("lead"),
		Name:           req.name,
		DisplayName:    req.name,
		StatusID:       statusID,
		StatusLabel:    statusLabel,
		Description:    req.description,
		OrganizationID: orgID,
		DateCreated:    created,
		DateUpdated:    created,
		ContactIDs:     []string{},
	}
	if req.url != "" {
		u := req.url
		lj.URL = &u
	}
	lj.HTMLURL = "https://app.close.com/lead/" + lj.ID + "/"
	contacts := make([]*contactRec, 0, len(req.contacts))
	cjs := make([]contactJSON, 0, len(req.contacts))
	for _, c := range req.contacts {
		cj := contactJSON{
			ID: newID("cont"), LeadID: lj.ID, OrganizationID: orgID,
			Name: c.name, DisplayName: c.name, Title: c.title, DateCreated: created,
			Emails: emailsJSON(c.emails), Phones: phonesJSON(c.phones),
		}
		lj.ContactIDs = append(lj.ContactIDs, cj.ID)
		contacts = append(contacts, &contactRec{c: cj})
		cjs = append(cjs, cj)
	}
	rec := &leadRec{lead: lj, custom: req.custom}
	if err := rec.render(cjs); err != nil {
		return nil, nil, err
	}
	return rec, contacts, nil
}

// emailsJSON and phonesJSON fill in Close's defaults; never nil, so an empty
// list is written as [].
func emailsJSON(in []closeapi.Email) []emailJSON {
	out := make([]emailJSON, 0, len(in))
	for _, e := range in {
		out = append(out, emailJSON{Email: e.Email, Type: orDefault(e.Type, defaultContactType)})
	}
	return out
}

func phonesJSON(in []closeapi.Phone) []phoneJSON {
	out := make([]phoneJSON, 0, len(in))
	for _, p := range in {
		out = append(out, phoneJSON{Phone: p.Phone, PhoneFormatted: formatPhone(p.Phone), Type: orDefault(p.Type, defaultContactType)})
	}
	return out
}

// spliceCustom appends the "custom.<id>" keys before the closing brace, in the
// order the request had them sorted (by key) so bodies are stable.
func spliceCustom(body []byte, custom []customField) ([]byte, error) {
	if len(custom) == 0 {
		return body, nil
	}
	var b bytes.Buffer
	b.Grow(len(body) + 64*len(custom))
	b.Write(body[:len(body)-1])
	for _, f := range custom {
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		b.WriteByte(',')
		b.Write(k)
		b.WriteByte(':')
		if err := json.Compact(&b, f.value); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// view is the closeapi form tests inspect via Server.Leads.
func (lj leadJSON) view() closeapi.CreatedLead {
	v := closeapi.CreatedLead{
		ID: lj.ID, Name: lj.Name, StatusID: lj.StatusID, StatusLabel: lj.StatusLabel,
		OrganizationID: lj.OrganizationID, DateCreated: lj.DateCreated, HTMLURL: lj.HTMLURL,
		ContactIDs: append([]string(nil), lj.ContactIDs...),
	}
	for _, c := range lj.Contacts {
		v.Contacts = append(v.Contacts, c.view())
	}
	return v
}

// view is the closeapi form of a contact.
func (c contactJSON) view() closeapi.CreatedContact {
	cc := closeapi.CreatedContact{ID: c.ID, LeadID: c.LeadID, Name: c.Name, Title: c.Title}
	for _, e := range c.Emails {
		cc.Emails = append(cc.Emails, closeapi.Email{Email: e.Email, Type: e.Type})
	}
	for _, p := range c.Phones {
		cc.Phones = append(cc.Phones, closeapi.Phone{Phone: p.Phone, Type: p.Type})
	}
	return cc
}

// copyLead deep-copies a CreatedLead so callers cannot mutate stored state.
func copyLead(l closeapi.CreatedLead) closeapi.CreatedLead {
	l.ContactIDs = append([]string(nil), l.ContactIDs...)
	contacts := make([]closeapi.CreatedContact, len(l.Contacts))
	for i, c := range l.Contacts {
		c.Emails = append([]closeapi.Email(nil), c.Emails...)
		c.Phones = append([]closeapi.Phone(nil), c.Phones...)
		contacts[i] = c
	}
	if l.Contacts == nil {
		contacts = nil
	}
	l.Contacts = contacts
	return l
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID makes a Close-style id: prefix, "_", 43 base62 characters. The
// package-level math/rand/v2 source is randomly seeded and safe for
// concurrent use; ids need uniqueness, not secrecy.
func newID(prefix string) string {
	var b strings.Builder
	b.Grow(len(prefix) + 1 + 43)
	b.WriteString(prefix)
	b.WriteByte('_')
	for range 43 {
		b.WriteByte(base62[rand.IntN(len(base62))])
	}
	return b.String()
}

// formatPhone renders a number the way Close's phone_formatted does
// (international format); anything unparseable is echoed as given.
func formatPhone(phone string) string {
	num, err := phonenumbers.Parse(phone, "")
	if err != nil {
		return phone
	}
	return phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
}

// validEmail is a deliberately plain check: one @, a non-empty local part, a
// dotted domain with non-empty labels, no spaces or address-list punctuation.
// It rejects what Close rejects in practice without pretending to be RFC 5322.
func validEmail(s string) bool {
	if len(s) < 3 || len(s) > 254 {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || at > 64 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`()<>,;:\"[]`, r) {
			return false
		}
	}
	domain := s[at+1:]
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
	}
	return true
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
