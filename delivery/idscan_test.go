package delivery

import (
	"strings"
	"testing"
)

var idBodies = []struct {
	body, lead, contact string
	fast                bool // the scanner decides without encoding/json
}{
	{createdBody, "lead_abc", "cont_first", true},
	{`{"id":"lead_x","contact_ids":["cont_y"]}`, "lead_x", "cont_y", true},
	{`{"contact_ids":["cont_y", "cont_z"], "contacts": [{"name": "a", "id": "cont_c", "emails": [{"email": "e"}]}], "id": "lead_x"}`, "lead_x", "cont_c", true},
	{`{"contacts": [{"id": ""}], "contact_ids": ["cont_i"], "id": "lead_x"}`, "lead_x", "cont_i", true},
	{`{"id":"lead_x","n":-1.5e+3,"t":true,"f":false,"z":null,"o":{"a":[1,{"b":"\"q\\u00e9"}]},"contacts":null}`, "lead_x", "", true},
	{` { "id" : "lead_x" } `, "lead_x", "", true},
	{`{"id": null}`, "", "", true},
	{`{}`, "", "", true},
	{`{"id":"lead_\u0078"}`, "lead_x", "", false},    // escaped id
	{`{"ID":"lead_x"}`, "lead_x", "", false},         // encoding/json folds case
	{`{"id":"a","id":"b"}`, "b", "", false},          // last duplicate wins
	{`{"id":5,"contact_ids":["c"]}`, "", "c", false}, // wrong type, rest still read
	{`{"id":"lead_x","contacts":[{"id":"c"},5]}`, "lead_x", "c", true},
	{`{"id":"lead_x"} trailing`, "", "", false},
	{`{"id":"lead_x",}`, "", "", false},
	{`{"id":"lead_x","n":01}`, "", "", false},
	{`<html>created</html>`, "", "", false},
	{``, "", "", false},
	{`null`, "", "", false},
	{`{"id":"lead_` + "\xff" + `"}`, "lead_\ufffd", "", false},
	{strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100), "", "", false},
}

func TestCreatedIDs(t *testing.T) {
	for _, tt := range idBodies {
		lead, contact := createdIDs([]byte(tt.body))
		if lead != tt.lead || contact != tt.contact {
			t.Errorf("createdIDs(%.60q) = (%q, %q), want (%q, %q)", tt.body, lead, contact, tt.lead, tt.contact)
		}
		if _, _, ok := scanCreatedIDs([]byte(tt.body)); ok != tt.fast {
			t.Errorf("scanner decided %.60q: %v, want %v", tt.body, ok, tt.fast)
		}
	}
}

// The scanner must agree with encoding/json whenever it decides.
func FuzzCreatedIDs(f *testing.F) {
	for _, tt := range idBodies {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		l1, c1, ok := scanCreatedIDs(body)
		l2, c2 := decodeCreatedIDs(body)
		if ok && (l1 != l2 || c1 != c2) {
			t.Errorf("scanner (%q, %q) vs encoding/json (%q, %q) for %q", l1, c1, l2, c2, body)
		}
	})
}

func BenchmarkCreatedIDs(b *testing.B) {
	body := []byte(`{"id":"lead_4Xk2q9vQZpLrT8mWnY3bC6dF1gH5jK7sA0eU2iO9xV","name":"Company 1","display_name":"Company 1","status_id":"stat_x","status_label":"Potential","description":"","url":null,"organization_id":"orga_x","date_created":"2026-11-29T10:30:24.854000+00:00","date_updated":"2026-11-29T10:30:24.854000+00:00","html_url":"https://app.close.com/lead/lead_x/","contact_ids":["cont_x"],"contacts":[{"id":"cont_x","lead_id":"lead_x","organization_id":"orga_x","name":"Jane Doe","display_name":"Jane Doe","title":"","date_created":"2026-11-29T10:30:24.854000+00:00","emails":[{"email":"person1@example.com","type":"office","is_unsubscribed":false}],"phones":[]}]}`)
	b.Run("scanner", func(b *testing.B) {
		for b.Loop() {
			createdIDs(body)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		for b.Loop() {
			decodeCreatedIDs(body)
		}
	})
}
