package closeapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The contact search is the documented Advanced Filtering shape, field for
// field (compared as JSON values, so key order does not matter).
func TestContactByEmailShape(t *testing.T) {
	want := `{"query": {"type": "and", "queries": [
      {"type": "object_type", "object_type": "contact"},
      {"type": "has_related", "this_object_type": "contact", "related_object_type": "contact_email",
       "related_query": {"type": "field_condition",
         "field": {"type": "regular_field", "object_type": "contact_email", "field_name": "email"},
         "condition": {"type": "text", "mode": "phrase", "value": "jane.doe@acme.com"}}}]},
   "_fields": {"contact": ["id", "lead_id", "name", "title", "emails", "phones"]},
   "_limit": 5}`
	got, err := json.Marshal(ContactByEmail("jane.doe@acme.com", 5))
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, got, []byte(want)) {
		t.Fatalf("search body:\n%s\nwant:\n%s", got, want)
	}
}

func TestUpdatesSendOnlyWhatIsSet(t *testing.T) {
	title := "CTO"
	got, _ := json.Marshal(ContactUpdate{Title: &title})
	if string(got) != `{"title":"CTO"}` {
		t.Fatalf("contact update = %s", got)
	}
	if !(ContactUpdate{}).Empty() || (ContactUpdate{Title: &title}).Empty() {
		t.Fatal("ContactUpdate.Empty")
	}
	url := "https://x.example/p"
	lu := LeadUpdate{URL: &url, Custom: map[string]json.RawMessage{"cf_b": json.RawMessage(`2`), "cf_a": json.RawMessage(`"x"`)}}
	got, err := json.Marshal(lu)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"custom.cf_a":"x","custom.cf_b":2,"url":"https://x.example/p"}` {
		t.Fatalf("lead update = %s", got)
	}
	var back LeadUpdate
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if back.URL == nil || *back.URL != url || back.Description != nil || string(back.Custom["cf_b"]) != "2" {
		t.Fatalf("round trip: %+v", back)
	}
	if !(LeadUpdate{}).Empty() || lu.Empty() {
		t.Fatal("LeadUpdate.Empty")
	}
}

func TestExistingLeadReadsCustomFields(t *testing.T) {
	var l ExistingLead
	if err := json.Unmarshal([]byte(`{"id":"lead_1","name":"Acme","status_id":"stat_1","url":"u","custom.cf_x":"v"}`), &l); err != nil {
		t.Fatal(err)
	}
	if l.ID != "lead_1" || l.StatusID != "stat_1" || l.URL != "u" || string(l.Custom["cf_x"]) != `"v"` {
		t.Fatalf("%+v", l)
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
