package closeemu

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/closesink/closesink/pkg/closeapi"
)

var (
	leadIDRe    = regexp.MustCompile(`^lead_[0-9A-Za-z]{43}$`)
	contactIDRe = regexp.MustCompile(`^cont_[0-9A-Za-z]{43}$`)
)

func TestCreateValidation(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantField string // key expected in field-errors; "" means an "errors" entry instead
		wantMsg   string
	}{
		{"invalid JSON", `{"name":`, "", "Invalid JSON"},
		{"JSON array", `[{"name":"x"}]`, "", "JSON object"},
		{"JSON null", `null`, "", "JSON object"},
		{"empty body", ``, "", "Invalid JSON"},
		{"name missing", `{"contacts":[]}`, "name", msgRequired},
		{"name empty", `{"name":""}`, "name", msgRequired},
		{"name blank", `{"name":"   "}`, "name", msgRequired},
		{"name null", `{"name":null}`, "name", msgRequired},
		{"name not a string", `{"name":42}`, "name", msgNotString},
		{"both status and status_id", `{"name":"x","status":"Potential","status_id":"stat_a"}`, "status", msgStatusBoth},
		{"unknown status_id", `{"name":"x","status_id":"stat_nope"}`, "status", msgInvalidChoice},
		{"unknown status label", `{"name":"x","status":"Nope"}`, "status", msgInvalidChoice},
		{"status_id not a string", `{"name":"x","status_id":1}`, "status_id", msgNotString},
		{"contacts not a list", `{"name":"x","contacts":{}}`, "contacts", msgNotList},
		{"contact not an object", `{"name":"x","contacts":["jane"]}`, "contacts.0", msgNotObject},
		{"email malformed", `{"name":"x","contacts":[{"emails":[{"email":"jane.doe"}]}]}`, "contacts.0.emails.0.email", msgInvalidEmail},
		{"email with space", `{"name":"x","contacts":[{"emails":[{"email":"jane doe@acme.com"}]}]}`, "contacts.0.emails.0.email", msgInvalidEmail},
		{"email no dot in domain", `{"name":"x","contacts":[{"emails":[{"email":"jane@localhost"}]}]}`, "contacts.0.emails.0.email", msgInvalidEmail},
		{"two @", `{"name":"x","contacts":[{"emails":[{"email":"a@b@c.com"}]}]}`, "contacts.0.emails.0.email", msgInvalidEmail},
		{"second email of second contact", `{"name":"x","contacts":[{},{"emails":[{"email":"ok@a.com"},{"email":"bad@"}]}]}`, "contacts.1.emails.1.email", msgInvalidEmail},
		{"email missing", `{"name":"x","contacts":[{"emails":[{"type":"office"}]}]}`, "contacts.0.emails.0.email", msgRequired},
		{"email not a string", `{"name":"x","contacts":[{"emails":[{"email":7}]}]}`, "contacts.0.emails.0.email", msgNotString},
		{"emails not a list", `{"name":"x","contacts":[{"emails":"a@b.com"}]}`, "contacts.0.emails", msgNotList},
		{"phone missing", `{"name":"x","contacts":[{"phones":[{}]}]}`, "contacts.0.phones.0.phone", msgRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := start(t, Config{Statuses: []string{"stat_a", "stat_b"}})
			r := postLead(t, ts, tt.body)
			if r.status != 400 {
				t.Fatalf("status = %d, want 400; body %s", r.status, r.body)
			}
			raw := r.json(t)
			if _, ok := raw["errors"].([]any); !ok {
				t.Fatalf(`"errors" must be a list: %s`, r.body)
			}
			if _, ok := raw["field-errors"].(map[string]any); !ok {
				t.Fatalf(`"field-errors" must be an object: %s`, r.body)
			}
			var body closeapi.ErrorBody
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("400 body must decode as closeapi.ErrorBody: %v", err)
			}
			if tt.wantField == "" {
				if len(body.Errors) != 1 || !strings.Contains(body.Errors[0], tt.wantMsg) {
					t.Fatalf("errors = %q, want one containing %q", body.Errors, tt.wantMsg)
				}
			} else if got := body.FieldErrors[tt.wantField]; got != tt.wantMsg {
				t.Fatalf("field-errors[%q] = %q, want %q (all: %v)", tt.wantField, got, tt.wantMsg, body.FieldErrors)
			}
			if strings.Contains(string(r.body), "@") {
				t.Fatalf("400 body must not echo emails: %s", r.body)
			}
			if n := len(s.Leads()); n != 0 || len(s.LeadBodies()) != 0 {
				t.Fatalf("a 400 must not store a lead; have %d", n)
			}
		})
	}
}

func TestCreateAnyStatusWhenNoneConfigured(t *testing.T) {
	s, ts := start(t, Config{})
	r := postLead(t, ts, `{"name":"x","status_id":"stat_whatever"}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if got := s.Leads()[0].StatusID; got != "stat_whatever" {
		t.Fatalf("status_id = %q", got)
	}
}

func TestCreateBodyTooLarge(t *testing.T) {
	s, ts := start(t, Config{MaxBodyBytes: 64})
	r := postLead(t, ts, `{"name":"`+strings.Repeat("x", 100)+`"}`)
	if r.status != 413 {
		t.Fatalf("status %d, want 413", r.status)
	}
	if len(s.Leads()) != 0 {
		t.Fatal("oversized body stored")
	}
	if r := postLead(t, ts, `{"name":"small"}`); r.status != 200 {
		t.Fatalf("small body after a 413: status %d", r.status)
	}
}

func TestCreateResponseShape(t *testing.T) {
	clock := newFakeClock()
	s, ts := start(t, Config{
		Statuses:       []string{"stat_default", "stat_web"},
		StatusLabels:   map[string]string{"stat_web": "Website Lead"},
		OrganizationID: "orga_test",
		Now:            clock.Now,
	})
	body := `{"name":"Acme Inc","status_id":"stat_web","url":"https://acme.com/contact","description":"Pricing enquiry",
		"custom.cf_b":  {"nested": [1, 2]}, "custom.cf_a":"utm-x","unknown_field":true,
		"contacts":[{"name":"Jane Doe","title":"Head of Growth",
			"emails":[{"email":"jane.doe@acme.com"},{"email":"j@acme.com","type":"home"}],
			"phones":[{"phone":"+447700900123"},{"phone":"not a phone","type":"mobile"}]}]}`
	r := postLead(t, ts, body)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	got := r.json(t)
	id, _ := got["id"].(string)
	if !leadIDRe.MatchString(id) {
		t.Fatalf("id %q is not lead_ + 43 base62", id)
	}
	want := map[string]any{
		"name":            "Acme Inc",
		"status_id":       "stat_web",
		"status_label":    "Website Lead",
		"organization_id": "orga_test",
		"url":             "https://acme.com/contact",
		"description":     "Pricing enquiry",
		"date_created":    "2026-11-29T10:30:24.854000+00:00",
		"html_url":        "https://app.close.com/lead/" + id + "/",
		"custom.cf_a":     "utm-x",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["unknown_field"]; ok {
		t.Error("unknown fields must be ignored, not echoed")
	}
	if !strings.Contains(string(r.body), `"custom.cf_a":"utm-x","custom.cf_b":{"nested":[1,2]}`) {
		t.Errorf("custom fields not echoed flat, sorted and compact: %s", r.body)
	}

	var created closeapi.CreatedLead
	if err := json.Unmarshal(r.body, &created); err != nil {
		t.Fatal(err)
	}
	if len(created.Contacts) != 1 || len(created.ContactIDs) != 1 || created.ContactIDs[0] != created.Contacts[0].ID {
		t.Fatalf("contact_ids %v do not match contacts", created.ContactIDs)
	}
	c := created.Contacts[0]
	if !contactIDRe.MatchString(c.ID) || c.LeadID != id || c.Name != "Jane Doe" || c.Title != "Head of Growth" {
		t.Fatalf("contact = %+v", c)
	}
	contact := got["contacts"].([]any)[0].(map[string]any)
	emails := contact["emails"].([]any)
	if e := emails[0].(map[string]any); e["type"] != "office" || e["is_unsubscribed"] != false || e["email"] != "jane.doe@acme.com" {
		t.Errorf("first email = %v, want default type office", e)
	}
	if e := emails[1].(map[string]any); e["type"] != "home" {
		t.Errorf("second email type = %v, want the given type", e["type"])
	}
	phones := contact["phones"].([]any)
	if p := phones[0].(map[string]any); p["phone_formatted"] != "+44 7700 900123" || p["type"] != "office" {
		t.Errorf("first phone = %v", p)
	}
	if p := phones[1].(map[string]any); p["phone_formatted"] != "not a phone" || p["type"] != "mobile" {
		t.Errorf("unparseable phone = %v, want echoed", p)
	}

	leads := s.Leads()
	if len(leads) != 1 || leads[0].ID != id || leads[0].Contacts[0].ID != c.ID || leads[0].StatusLabel != "Website Lead" {
		t.Fatalf("stored leads = %+v", leads)
	}
	if bodies := s.LeadBodies(); len(bodies) != 1 || string(bodies[0]) != body {
		t.Fatalf("stored body differs from the request body")
	}
	if st := s.Stats(); st.Created != 1 || st.Requests != 1 || st.ByStatus[200] != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestCreateDefaultStatusAndLabelForm(t *testing.T) {
	s, ts := start(t, Config{Statuses: []string{"stat_default", "stat_web"}, StatusLabels: map[string]string{"stat_web": "Website Lead"}})
	for _, body := range []string{`{"name":"a"}`, `{"name":"b","status":"website lead"}`, `{"name":"c","status_id":""}`} {
		if r := postLead(t, ts, body); r.status != 200 {
			t.Fatalf("%s: status %d %s", body, r.status, r.body)
		}
	}
	leads := s.Leads()
	want := [][2]string{{"stat_default", DefaultStatusLabel}, {"stat_web", "Website Lead"}, {"stat_default", DefaultStatusLabel}}
	for i, w := range want {
		if leads[i].StatusID != w[0] || leads[i].StatusLabel != w[1] {
			t.Errorf("lead %d status = %s/%s, want %s/%s", i, leads[i].StatusID, leads[i].StatusLabel, w[0], w[1])
		}
	}
}

func TestLeadsReturnsCopies(t *testing.T) {
	s, ts := start(t, Config{})
	postLead(t, ts, minimalLead)
	l := s.Leads()
	l[0].Contacts[0].Emails[0].Email = "changed"
	l[0].ContactIDs[0] = "changed"
	b := s.LeadBodies()
	b[0][0] = 'X'
	if s.Leads()[0].Contacts[0].Emails[0].Email != "jane.doe@acme.com" || s.Leads()[0].ContactIDs[0] == "changed" {
		t.Fatal("Leads exposes stored state")
	}
	if s.LeadBodies()[0][0] != '{' {
		t.Fatal("LeadBodies exposes stored state")
	}
}

func TestResetAndMaxLeads(t *testing.T) {
	s, ts := start(t, Config{MaxLeads: 2, RateLimit: 1, Now: newFakeClock().Now, RateBurst: 3})
	var ids []string
	for range 3 {
		r := postLead(t, ts, minimalLead)
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		ids = append(ids, r.json(t)["id"].(string))
	}
	leads := s.Leads()
	if len(leads) != 2 || leads[0].ID != ids[1] || leads[1].ID != ids[2] || len(s.LeadBodies()) != 2 {
		t.Fatalf("MaxLeads=2 should keep the last two")
	}
	if r := call(t, ts, "GET", "/api/v1/lead/"+ids[0]+"/", testKey, ""); r.status != 429 {
		t.Fatalf("bucket should be empty before Reset, got %d", r.status)
	}
	s.Reset()
	if st := s.Stats(); len(s.Leads()) != 0 || st.Created != 0 || st.Requests != 0 || len(st.ByStatus) != 0 {
		t.Fatalf("after Reset: %d leads, stats %+v", len(s.Leads()), st)
	}
	if r := postLead(t, ts, minimalLead); r.status != 200 {
		t.Fatalf("Reset must keep keys and refill buckets; status %d", r.status)
	}
}
