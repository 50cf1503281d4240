package closeapi

import (
	"encoding/json"
	"testing"
)

func TestLeadMarshalOrderAndCustom(t *testing.T) {
	l := Lead{
		Name:     "Acme Inc",
		StatusID: "stat_1",
		Custom:   map[string]json.RawMessage{"cf_b": json.RawMessage(`2`), "cf_a": json.RawMessage(`"x"`)},
		Contacts: []Contact{{Name: "Jane", Emails: []Email{{Email: "j@a.com"}}}},
	}
	got, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"Acme Inc","status_id":"stat_1","custom.cf_a":"x","custom.cf_b":2,"contacts":[{"name":"Jane","emails":[{"email":"j@a.com"}]}]}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var back Lead
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if string(back.Custom["cf_a"]) != `"x"` || string(back.Custom["cf_b"]) != `2` || back.Name != "Acme Inc" {
		t.Fatalf("round trip lost data: %+v", back)
	}
}

func TestLeadMarshalEmptyContactsIsArray(t *testing.T) {
	got, _ := json.Marshal(Lead{Name: "x"})
	if string(got) != `{"name":"x","contacts":[]}` {
		t.Fatalf("got %s", got)
	}
}
