package delivery

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/closesink/closesink/pkg/closeapi"
)

var idBodies = []struct{ body, lead, contact string }{
	{createdBody, "lead_abc", "cont_first"},
	{`{"id":"lead_x","contact_ids":["cont_y"]}`, "lead_x", "cont_y"},
	{`{"contact_ids":["cont_y", "cont_z"], "contacts": [{"name": "a", "id": "cont_c", "emails": [{"email": "e"}]}], "id": "lead_x"}`, "lead_x", "cont_c"},
	{`{"contacts": [{"id": ""}], "contact_ids": ["cont_i"], "id": "lead_x"}`, "lead_x", "cont_i"},
	{`{"id":"lead_x","n":-1.5e+3,"t":true,"f":false,"z":null,"o":{"a":[1,{"b":"\"q\\u00e9"}]},"contacts":null}`, "lead_x", ""},
	{` { "id" : "lead_x" } `, "lead_x", ""},
	{`{"id": null}`, "", ""},
	{`{}`, "", ""},
	{`{"id":"lead_\u0078"}`, "lead_x", ""},              // escaped id
	{`{"ID":"lead_x"}`, "lead_x", ""},                   // keys match case-insensitively
	{`{"i_d":"lead_x","contactids":["c"]}`, "", ""},     // but '_' is not ignored
	{`{"id":"a","id":"b"}`, "b", ""},                    // last duplicate wins
	{`{"id":"a","id":null}`, "a", ""},                   // null leaves the value
	{`{"id":5,"contact_ids":["c"]}`, "", "c"},           // wrong type, rest still read
	{`{"contact_ids":"c","id":"lead_x"}`, "lead_x", ""}, // likewise
	{`{"id":"lead_x","contacts":[{"id":"c"},5]}`, "lead_x", "c"},
	{`{"id":"lead_x"} trailing`, "", ""},
	{`{"id":"lead_x",}`, "", ""},
	{`{"id":"lead_x","n":01}`, "", ""},
	{`<html>created</html>`, "", ""},
	{``, "", ""},
	{`null`, "", ""},
	{`{"id":"lead_` + "\xff" + `"}`, "lead_\ufffd", ""},
	{strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100), "", ""},
}

func TestCreatedIDs(t *testing.T) {
	for _, tt := range idBodies {
		lead, contact := createdIDs([]byte(tt.body))
		if lead != tt.lead || contact != tt.contact {
			t.Errorf("createdIDs(%.60q) = (%q, %q), want (%q, %q)", tt.body, lead, contact, tt.lead, tt.contact)
		}
	}
}

// referenceCreatedIDs is how closesink read the ids with encoding/json: its
// decode, the tolerance of decodeCreated, and the same choice of ids.
func referenceCreatedIDs(body []byte) (leadID, contactID string) {
	var created closeapi.CreatedLead
	if err := json.Unmarshal(body, &created); err != nil {
		var typeErr *json.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return "", ""
		}
	}
	return idsOf(created)
}

// createdIDs must read every body exactly as encoding/json does.
func FuzzCreatedIDs(f *testing.F) {
	for _, tt := range idBodies {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		l1, c1 := createdIDs(body)
		l2, c2 := referenceCreatedIDs(body)
		if l1 != l2 || c1 != c2 {
			t.Errorf("createdIDs (%q, %q) vs encoding/json (%q, %q) for %q", l1, c1, l2, c2, body)
		}
	})
}

func BenchmarkCreatedIDs(b *testing.B) {
	body := []byte(`{"id":"lead_4Xk2q9vQZpLrT8mWnY3bC6dF1gH5jK7sA0eU2iO9xV","name":"Company 1","display_name":"Company 1","status_id":"stat_x","status_label":"Potential","description":"","url":null,"organization_id":"orga_x","date_created":"2026-11-29T10:30:24.854000+00:00","date_updated":"2026-11-29T10:30:24.854000+00:00","html_url":"https://app.close.com/lead/lead_x/","contact_ids":["cont_x"],"contacts":[{"id":"cont_x","lead_id":"lead_x","organization_id":"orga_x","name":"Jane Doe","display_name":"Jane Doe","title":"","date_created":"2026-11-29T10:30:24.854000+00:00","emails":[{"email":"person1@example.com","type":"office","is_unsubscribed":false}],"phones":[]}]}`)
	b.Run("json_v2_engine", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			createdIDs(body)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			referenceCreatedIDs(body)
		}
	})
}
