package jsoncompare

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/closesink/closesink/pkg/closeapi"
	"github.com/closesink/closesink/transform"
	"github.com/nyaruka/phonenumbers"
)

// Every candidate does the same work as transform.Transform: validate the
// whole record exactly like json.Valid, read the top-level members (last
// duplicate wins) and classify the event; for a mapped event, read the
// traits (context.traits overridden by traits), consent, lead_type, page url
// and messageId, then finish the lead with the same non-JSON code (finish).

// envelope is what a candidate reports about a record's top level. typ and
// event are the decoded strings (they may alias the record).
type envelope struct {
	typ, event                     []byte
	typIsString, eventIsString     bool
	typK, eventK                   byte // first byte of the raw value, 0 when absent
	traitsK, propertiesK, contextK byte
}

var events = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range transform.DefaultEvents {
		m[e] = true
	}
	return m
}()

// decide mirrors transform's classify plus the envelope type checks.
// ok is false for invalid_event.
func decide(env envelope) (mapped, ok bool) {
	for _, k := range []byte{env.typK, env.eventK} {
		if k != 0 && k != 'n' && k != '"' {
			return false, false
		}
	}
	for _, k := range []byte{env.traitsK, env.propertiesK, env.contextK} {
		if k != 0 && k != 'n' && k != '{' {
			return false, false
		}
	}
	return env.typIsString && string(env.typ) == "track" && env.eventIsString && events[string(env.event)], true
}

// leadFields are the decoded strings a lead is built from ("" when absent,
// null or not a string).
type leadFields struct {
	email, phone, firstName, lastName, name, title, company string
	leadType, url, messageID                                string
	consent                                                 bool
}

// traitSetter returns where a trait key goes, or nil.
func (f *leadFields) traitSetter(key string) *string {
	switch key {
	case "email":
		return &f.email
	case "phone":
		return &f.phone
	case "firstName":
		return &f.firstName
	case "lastName":
		return &f.lastName
	case "name":
		return &f.name
	case "title":
		return &f.title
	case "company":
		return &f.company
	}
	return nil
}

// rawString decodes a raw JSON string span; "" for anything else.
func rawString(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// rawStringBytes is rawString without a copy when raw has no escapes.
func rawStringBytes(raw []byte) []byte {
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1]
	}
	return []byte(rawString(raw))
}

// finish is the non-JSON half of transform's lead(): the same for every
// candidate, so differences between candidates are JSON costs.
func finish(f *leadFields) *closeapi.Lead {
	email := strings.ToLower(strings.TrimSpace(f.email))
	if email == "" || strings.Count(email, "@") != 1 || !f.consent {
		return nil
	}
	contact := closeapi.Contact{
		Name:   strings.TrimSpace(f.firstName + " " + f.lastName),
		Title:  strings.TrimSpace(f.title),
		Emails: []closeapi.Email{{Email: email}},
	}
	if p := strings.TrimSpace(f.phone); p != "" {
		var num phonenumbers.PhoneNumber
		if phonenumbers.ParseToNumber(p, transform.DefaultPhoneRegion, &num) == nil &&
			phonenumbers.IsPossibleNumberWithReason(&num) == phonenumbers.IS_POSSIBLE {
			contact.Phones = []closeapi.Phone{{Phone: phonenumbers.Format(&num, phonenumbers.E164)}}
		}
	}
	name := strings.TrimSpace(f.company)
	if name == "" {
		name = email
	}
	return &closeapi.Lead{Name: name, Description: f.leadType, URL: f.url, Contacts: []closeapi.Contact{contact}}
}

// Inputs: the same records as transform/bench_test.go.
var benchPageView = []byte(`{"type":"page","name":"Pricing","messageId":"a1b2c3d4-e5f6-7890-abcd-ef1234567890",` +
	`"timestamp":"2026-11-25T14:30:00.000Z","anonymousId":"anon_a1b2c3d4",` +
	`"properties":{"path":"/pricing","referrer":"https://www.google.com/","search":"","title":"Pricing","url":"https://example.com/pricing"},` +
	`"context":{"ip":"203.0.113.7","locale":"en-GB","page":{"url":"https://example.com/pricing","path":"/pricing","title":"Pricing","referrer":"https://www.google.com/"},` +
	`"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",` +
	`"consent":{"analytics":true,"marketing":false}}}`)

var benchNonLeadTrack = []byte(`{"type":"track","event":"Product Viewed","messageId":"b2c3d4e5-f6a7-8901-bcde-f12345678901",` +
	`"timestamp":"2026-11-25T14:31:00.000Z","userId":"user-123","anonymousId":"anon_a1b2c3d4",` +
	`"properties":{"product_id":"sku-42","name":"Pro plan","price":49.0,"currency":"USD"},` +
	`"traits":{"email":"jane.doe@acme.com","phone":"+44 7700 900123","firstName":"Jane","lastName":"Doe","title":"Head of Growth","company":"Acme Inc"},` +
	`"context":{"page":{"url":"https://example.com/pricing","path":"/pricing","title":"Pricing"},"consent":{"analytics":true,"marketing":true}}}`)

// benchCreated is Close's 200 body for POST /api/v1/lead/ (the delivery
// benchmark's body, as the emulator and Close send it).
var benchCreated = []byte(`{"id":"lead_4Xk2q9vQZpLrT8mWnY3bC6dF1gH5jK7sA0eU2iO9xV","name":"Company 1","display_name":"Company 1","status_id":"stat_x","status_label":"Potential","description":"","url":null,"organization_id":"orga_x","date_created":"2026-11-29T10:30:24.854000+00:00","date_updated":"2026-11-29T10:30:24.854000+00:00","html_url":"https://app.close.com/lead/lead_x/","contact_ids":["cont_x"],"contacts":[{"id":"cont_x","lead_id":"lead_x","organization_id":"orga_x","name":"Jane Doe","display_name":"Jane Doe","title":"","date_created":"2026-11-29T10:30:24.854000+00:00","emails":[{"email":"person1@example.com","type":"office","is_unsubscribed":false}],"phones":[]}]}`)

func leadInputs() (full, noPhone []byte) {
	full, err := os.ReadFile(filepath.Join("..", "..", "transform", "testdata", "events", "seed_lead_submitted.json"))
	if err != nil {
		panic(err)
	}
	noPhone = bytes.Replace(full, []byte(`"phone": "+44 7700 900123",`), nil, 1)
	if bytes.Equal(noPhone, full) {
		panic("fixture changed: phone trait not found")
	}
	return full, noPhone
}
