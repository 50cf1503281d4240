package transform

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzTransform: no input panics; every lead has a non-empty name and one
// lowercase, valid email; everything in the payload is valid UTF-8 within
// Close's limits; and the transform agrees with encoding/json about what is
// JSON (only a no_mapped_name drop, which is not parsed, may be malformed)
// and which events are mapped.
func FuzzTransform(f *testing.F) {
	addFuzzSeeds(f)
	tr, err := New(Config{
		LeadStatusID: "stat_fuzz",
		CustomFields: map[string]string{"cf_a": "properties.plan", "cf_b": "traits.industry", "cf_c": "context.page.title"},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := string(data)
		r := tr.Transform(data)
		if string(data) != orig {
			t.Fatal("Transform modified its input")
		}
		if !json.Valid(data) && r.Kind != KindInvalid && r.Drop != DropNoMappedName {
			t.Fatalf("not JSON but kind %v drop %q", r.Kind, r.Drop)
		}
		switch r.Kind {
		case KindLead:
			checkFuzzLead(t, r)
		case KindDropped:
			switch r.Drop {
			case DropNoMappedName, DropNotMapped, DropNoEmail, DropNoConsent:
			default:
				t.Fatalf("unknown drop reason %q", r.Drop)
			}
		case KindInvalid:
			if !errors.Is(r.Err, ErrInvalidEvent) {
				t.Fatalf("invalid without ErrInvalidEvent: %v", r.Err)
			}
		default:
			t.Fatalf("unknown kind %v", r.Kind)
		}
		got := r.Kind != KindDropped || r.Drop != DropNotMapped && r.Drop != DropNoMappedName
		if mapped, ok := referenceMapped(data); ok && mapped != got {
			t.Fatalf("transform says mapped=%v, encoding/json says %v (result %v %q %v)", got, mapped, r.Kind, r.Drop, r.Err)
		}
	})
}

// addFuzzSeeds seeds f with every fixture in testdata/events and a few
// leads with escapes.
func addFuzzSeeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"type":"track","event":"Signed Up","traits":{"email":"A@B.CO","phone":"+1 415 555 0132"},"context":{"consent":{"canonical":{"marketing":true}}}}`,
		`{"type":"track","event":"Lead Submitted","traits":{"email":"x@y.zz","lastName":"\u0130"},"context":{"consent":{"marketing":true}}}`,
		`{"type":"track","event":"Demo Requested","context":{"traits":{"email":"k\u212a@x.io"},"consent":{"categories":{"marketing":true}}}}`,
	} {
		f.Add([]byte(s))
	}
}

func checkFuzzLead(t *testing.T, r Result) {
	t.Helper()
	l := r.Lead
	if l == nil || strings.TrimSpace(l.Name) == "" {
		t.Fatalf("lead without a name: %+v", l)
	}
	if len(l.Contacts) != 1 || len(l.Contacts[0].Emails) != 1 {
		t.Fatalf("lead must have one contact with one email: %+v", l)
	}
	email := r.Email()
	if email == "" || email != strings.ToLower(email) || email != strings.TrimSpace(email) || !validEmail(email) {
		t.Fatalf("bad email %q", email)
	}
	c := l.Contacts[0]
	for field, s := range map[string]string{"name": l.Name, "contact name": c.Name, "title": c.Title} {
		if utf8.RuneCountInString(s) > MaxTextLen {
			t.Fatalf("%s longer than %d characters", field, MaxTextLen)
		}
	}
	for _, p := range c.Phones {
		if !strings.HasPrefix(p.Phone, "+") || len(p.Phone) < 3 || strings.Trim(p.Phone[1:], "0123456789") != "" {
			t.Fatalf("phone %q is not E.164", p.Phone)
		}
	}
	if r.PhoneIssue != "" && len(c.Phones) != 0 {
		t.Fatalf("phone issue %q but a phone was sent", r.PhoneIssue)
	}
	payload, err := json.Marshal(l)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if !utf8.Valid(payload) || !json.Valid(payload) {
		t.Fatalf("payload is not valid UTF-8 JSON: %q", payload)
	}
	// encoding/json would silently replace invalid UTF-8 while marshalling;
	// check the strings themselves so the transform is what guarantees it.
	for _, s := range []string{l.Name, l.URL, l.Description, c.Name, c.Title, email} {
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 in %q", s)
		}
	}
	for id, v := range l.Custom {
		if !json.Valid(v) || !utf8.Valid(v) {
			t.Fatalf("custom %s not valid UTF-8 JSON: %q", id, v)
		}
	}
}

// referenceMapped decides with encoding/json (exact keys, last duplicate
// wins) whether data is a mapped track event. ok is false when data is not
// a JSON object or type/event have other types, where no comparison applies.
func referenceMapped(data []byte) (mapped, ok bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || top == nil {
		return false, false
	}
	var typ, name *string
	if raw, has := top["type"]; has && json.Unmarshal(raw, &typ) != nil {
		return false, false
	}
	if raw, has := top["event"]; has && json.Unmarshal(raw, &name) != nil {
		return false, false
	}
	for _, k := range []string{"traits", "properties", "context"} {
		if raw, has := top[k]; has && string(raw) != "null" && raw[0] != '{' {
			return false, false // invalid envelope, checked elsewhere
		}
	}
	if typ == nil || *typ != "track" || name == nil {
		return false, true
	}
	for _, e := range DefaultEvents {
		if *name == e {
			return true, true
		}
	}
	return false, true
}
