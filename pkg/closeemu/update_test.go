package closeemu

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/closesink/closesink/pkg/closeapi"
)

const fullLead = `{"name":"Acme","url":"https://acme.com","description":"first",
	"custom.cf_plan":"free","custom.cf_seats":3,
	"contacts":[{"name":"Jane","title":"CTO","emails":[{"email":"jane@acme.com","type":"work"}],
	"phones":[{"phone":"+14155550100"},{"phone":"+14155550101","type":"mobile"}]}]}`

func TestUpdateContactIsAPatch(t *testing.T) {
	jane := closeapi.CreatedContact{
		Name: "Jane", Title: "CTO",
		Emails: []closeapi.Email{{Email: "jane@acme.com", Type: "work"}},
		Phones: []closeapi.Phone{{Phone: "+14155550100", Type: "office"}, {Phone: "+14155550101", Type: "mobile"}},
	}
	with := func(f func(c *closeapi.CreatedContact)) closeapi.CreatedContact {
		c := jane
		f(&c)
		return c
	}
	tests := []struct {
		name string
		body string
		want closeapi.CreatedContact
	}{
		{"nothing sent", `{}`, jane},
		{"name only", `{"name":"Jane Doe"}`, with(func(c *closeapi.CreatedContact) { c.Name = "Jane Doe" })},
		{"null title clears it", `{"title":null}`, with(func(c *closeapi.CreatedContact) { c.Title = "" })},
		{
			"phones replaced whole, emails untouched", `{"phones":[{"phone":"+442079460000"}]}`,
			with(func(c *closeapi.CreatedContact) {
				c.Phones = []closeapi.Phone{{Phone: "+442079460000", Type: "office"}}
			}),
		},
		{"empty phones clears them", `{"phones":[]}`, with(func(c *closeapi.CreatedContact) { c.Phones = nil })},
		{
			"emails replaced whole, phones untouched", `{"emails":[{"email":"jane@new.io","type":"home"}]}`,
			with(func(c *closeapi.CreatedContact) { c.Emails = []closeapi.Email{{Email: "jane@new.io", Type: "home"}} }),
		},
		{"unknown keys ignored", `{"lead_id":"lead_other","date_created":"x"}`, jane},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := start(t, Config{})
			l := mustCreate(t, ts, fullLead)
			id := l.contacts[0]
			tt.want.ID, tt.want.LeadID = id, l.id

			r := put(t, ts, contactPath+id+"/", tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("PUT: %d %s", r.status, r.body)
			}
			var answered closeapi.CreatedContact
			if err := json.Unmarshal(r.body, &answered); err != nil {
				t.Fatal(err)
			}
			stored, _ := s.Contact(id)
			lead, _ := s.Lead(l.id)
			for what, got := range map[string]closeapi.CreatedContact{
				"answer": answered, "Contact": stored, "Lead": lead.Contacts[0], "Leads": s.Leads()[0].Contacts[0],
			} {
				if !reflect.DeepEqual(normContact(got), tt.want) {
					t.Fatalf("%s: %+v\nwant %+v", what, got, tt.want)
				}
			}
			// GET lead shows the change too.
			get := call(t, ts, http.MethodGet, leadPath+l.id+"/", testKey, "")
			var gl closeapi.CreatedLead
			if err := json.Unmarshal(get.body, &gl); err != nil || !reflect.DeepEqual(normContact(gl.Contacts[0]), tt.want) {
				t.Fatalf("GET lead contact %+v (%v)", gl.Contacts, err)
			}
			if ups := s.Updates(); len(ups) != 1 || ups[0].Endpoint != EndpointUpdateContact || ups[0].ID != id || string(ups[0].Body) != tt.body {
				t.Fatalf("Updates = %+v", ups)
			}
			if st := s.Stats(); st.ContactUpdates != 1 || st.LeadUpdates != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestUpdateLeadIsAPatch(t *testing.T) {
	base := closeapi.ExistingLead{
		Name: "Acme", URL: "https://acme.com", Description: "first",
		Custom: map[string]json.RawMessage{"cf_plan": json.RawMessage(`"free"`), "cf_seats": json.RawMessage(`3`)},
	}
	with := func(f func(l *closeapi.ExistingLead)) closeapi.ExistingLead {
		l := base
		l.Custom = map[string]json.RawMessage{}
		for k, v := range base.Custom {
			l.Custom[k] = v
		}
		f(&l)
		return l
	}
	tests := []struct {
		name string
		body string
		want closeapi.ExistingLead
	}{
		{"nothing sent", `{}`, base},
		{"url and description", `{"url":"https://acme.io","description":"second"}`, with(func(l *closeapi.ExistingLead) {
			l.URL, l.Description = "https://acme.io", "second"
		})},
		{"null url and description clear them", `{"url":null,"description":null}`, with(func(l *closeapi.ExistingLead) {
			l.URL, l.Description = "", ""
		})},
		{"custom field changed, others kept", `{"custom.cf_plan":"pro"}`, with(func(l *closeapi.ExistingLead) {
			l.Custom["cf_plan"] = json.RawMessage(`"pro"`)
		})},
		{"custom field added", `{"custom.cf_region": { "a" : [1, 2] }}`, with(func(l *closeapi.ExistingLead) {
			l.Custom["cf_region"] = json.RawMessage(`{"a":[1,2]}`)
		})},
		{"null custom field removed", `{"custom.cf_seats":null}`, with(func(l *closeapi.ExistingLead) {
			delete(l.Custom, "cf_seats")
		})},
		{"closeapi.LeadUpdate body", mustJSON(t, closeapi.LeadUpdate{
			Description: ptr("third"), Custom: map[string]json.RawMessage{"cf_seats": json.RawMessage(`4`)},
		}), with(func(l *closeapi.ExistingLead) {
			l.Description, l.Custom["cf_seats"] = "third", json.RawMessage(`4`)
		})},
		{"name when sent", `{"name":"Acme Corp"}`, with(func(l *closeapi.ExistingLead) { l.Name = "Acme Corp" })},
		{"status when sent", `{"status_id":"stat_won"}`, with(func(l *closeapi.ExistingLead) { l.StatusID = "stat_won" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			s, ts := start(t, Config{Statuses: []string{"stat_new", "stat_won"}, Now: clock.Now})
			l := mustCreate(t, ts, fullLead)
			tt.want.ID = l.id
			if tt.want.StatusID == "" {
				tt.want.StatusID = "stat_new"
			}
			before, _ := s.Lead(l.id)
			clock.Advance(time.Second)

			r := put(t, ts, leadPath+l.id+"/", tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("PUT: %d %s", r.status, r.body)
			}
			var answered closeapi.ExistingLead
			if err := json.Unmarshal(r.body, &answered); err != nil {
				t.Fatal(err)
			}
			got := getExisting(t, ts, l.id)
			for what, g := range map[string]closeapi.ExistingLead{"answer": answered, "GET": got} {
				if !reflect.DeepEqual(g, tt.want) {
					t.Fatalf("%s: %+v\nwant %+v", what, g, tt.want)
				}
			}
			after, _ := s.Lead(l.id)
			if !reflect.DeepEqual(after.Custom, tt.want.Custom) || after.URL != tt.want.URL || after.Description != tt.want.Description {
				t.Fatalf("Lead = %+v", after)
			}
			if after.DateUpdated == before.DateUpdated || after.DateCreated != before.DateCreated {
				t.Fatalf("dates: before %q/%q after %q/%q", before.DateCreated, before.DateUpdated, after.DateCreated, after.DateUpdated)
			}
			if !reflect.DeepEqual(after.Contacts, before.Contacts) {
				t.Fatalf("contacts changed: %+v", after.Contacts)
			}
			if st := s.Stats(); st.LeadUpdates != 1 {
				t.Fatalf("LeadUpdates = %d", st.LeadUpdates)
			}
		})
	}
}

// normContact makes empty lists nil, as decoding [] does not.
func normContact(c closeapi.CreatedContact) closeapi.CreatedContact {
	if len(c.Emails) == 0 {
		c.Emails = nil
	}
	if len(c.Phones) == 0 {
		c.Phones = nil
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func TestUpdateRejects(t *testing.T) {
	s, ts := start(t, Config{Statuses: []string{"stat_new"}})
	l := mustCreate(t, ts, fullLead)
	cont := contactPath + l.contacts[0] + "/"
	lead := leadPath + l.id + "/"
	tests := []struct {
		name, path, body string
		want             int
		field            string // the field-errors key, if any
	}{
		{"unknown contact", contactPath + "cont_nope/", `{"name":"x"}`, 404, ""},
		{"unknown lead", leadPath + "lead_nope/", `{"name":"x"}`, 404, ""},
		{"unknown contact, bad body too", contactPath + "cont_nope/", `{"emails":"x"}`, 404, ""},
		{"contact: invalid email", cont, `{"emails":[{"email":"not-an-email"}]}`, 400, "emails.0.email"},
		{"contact: emails not a list", cont, `{"emails":{"email":"a@b.co"}}`, 400, "emails"},
		{"contact: phone missing", cont, `{"phones":[{"type":"mobile"}]}`, 400, "phones.0.phone"},
		{"contact: name not a string", cont, `{"name":1}`, 400, "name"},
		{"contact: not JSON", cont, `{`, 400, ""},
		{"contact: not an object", cont, `[]`, 400, ""},
		{"lead: empty name", lead, `{"name":" "}`, 400, "name"},
		{"lead: null name", lead, `{"name":null}`, 400, "name"},
		{"lead: unknown status", lead, `{"status_id":"stat_nope"}`, 400, "status"},
		{"lead: status and status_id", lead, `{"status_id":"stat_new","status":"Potential"}`, 400, "status"},
		{"lead: contacts", lead, `{"contacts":[]}`, 400, "contacts"},
		{"lead: url not a string", lead, `{"url":5}`, 400, "url"},
		{"lead: null body", lead, `null`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := put(t, ts, tt.path, tt.body)
			wantError(t, r, tt.want)
			if tt.field != "" {
				var b closeapi.ErrorBody
				_ = json.Unmarshal(r.body, &b)
				if b.FieldErrors[tt.field] == "" {
					t.Fatalf("want field-errors[%q], got %s", tt.field, r.body)
				}
			}
		})
	}
	// Nothing changed.
	if got := getExisting(t, ts, l.id); got.Name != "Acme" || got.StatusID != "stat_new" || got.URL != "https://acme.com" {
		t.Fatalf("lead changed: %+v", got)
	}
	if c, _ := s.Contact(l.contacts[0]); c.Emails[0].Email != "jane@acme.com" || len(c.Phones) != 2 {
		t.Fatalf("contact changed: %+v", c)
	}
	if st := s.Stats(); st.ContactUpdates != 0 || st.LeadUpdates != 0 || len(s.Updates()) != 0 {
		t.Fatalf("stats %+v, updates %d", st, len(s.Updates()))
	}
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodDelete, cont, "GET, HEAD, PUT"},
		{http.MethodPost, lead, "GET, HEAD, PUT"},
	} {
		if r := call(t, ts, tt.method, tt.path, testKey, ""); r.status != 405 || r.header.Get("Allow") != tt.allow {
			t.Fatalf("%s %s: %d %v", tt.method, tt.path, r.status, r.header)
		}
	}
	if r := call(t, ts, http.MethodGet, cont, testKey, ""); r.status != 200 || !strings.Contains(string(r.body), l.contacts[0]) {
		t.Fatalf("GET contact: %d %s", r.status, r.body)
	}
	for _, p := range []string{contactPath, contactPath + "a/b/"} {
		wantError(t, call(t, ts, http.MethodPut, p, testKey, `{}`), 404)
	}
}
