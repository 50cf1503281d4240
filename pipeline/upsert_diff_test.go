package pipeline

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/closesink/closesink/pkg/closeapi"
)

func ptr(s string) *string { return &s }

func TestContactChanges(t *testing.T) {
	have := closeapi.FoundContact{ID: "cont_1", Name: "Jane Doe", Title: "Head of Growth",
		Emails: []closeapi.Email{{Email: "jane@acme.com"}}, Phones: []closeapi.Phone{{Phone: "+447700900123", Type: "office"}}}
	cases := []struct {
		name string
		want closeapi.Contact
		out  closeapi.ContactUpdate
	}{
		{"same", closeapi.Contact{Name: "Jane Doe", Title: "Head of Growth", Phones: []closeapi.Phone{{Phone: "+447700900123"}}}, closeapi.ContactUpdate{}},
		{"empty never clears", closeapi.Contact{}, closeapi.ContactUpdate{}},
		{"new title", closeapi.Contact{Name: "Jane Doe", Title: "CMO"}, closeapi.ContactUpdate{Title: ptr("CMO")}},
		{"new name", closeapi.Contact{Name: "Jane Smith"}, closeapi.ContactUpdate{Name: ptr("Jane Smith")}},
		{"new phone keeps the old", closeapi.Contact{Phones: []closeapi.Phone{{Phone: "+14155550100"}}},
			closeapi.ContactUpdate{Phones: []closeapi.Phone{{Phone: "+447700900123", Type: "office"}, {Phone: "+14155550100"}}}},
		{"emails are never sent", closeapi.Contact{Emails: []closeapi.Email{{Email: "other@acme.com"}}}, closeapi.ContactUpdate{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := contactChanges(tc.want, have)
			if !reflect.DeepEqual(got, tc.out) {
				t.Fatalf("got %+v, want %+v", got, tc.out)
			}
			if after := applyContact(have, got); !reflect.DeepEqual(contactChanges(tc.want, after), closeapi.ContactUpdate{}) {
				t.Fatalf("after applying the update there are still changes: %+v", contactChanges(tc.want, after))
			}
		})
	}
}

func TestLeadChanges(t *testing.T) {
	have := closeapi.ExistingLead{ID: "lead_1", Name: "Acme", StatusID: "stat_sales", URL: "https://a/p",
		Description: "Pricing", Custom: map[string]json.RawMessage{"cf_plan": json.RawMessage(`"pro"`)}}
	cases := []struct {
		name string
		want closeapi.Lead
		out  closeapi.LeadUpdate
	}{
		{"same (json spacing aside)", closeapi.Lead{Name: "Other", StatusID: "stat_new", URL: "https://a/p", Description: "Pricing",
			Custom: map[string]json.RawMessage{"cf_plan": json.RawMessage(` "pro" `)}}, closeapi.LeadUpdate{}},
		{"name and status never change", closeapi.Lead{Name: "New Co", StatusID: "stat_x"}, closeapi.LeadUpdate{}},
		{"url and description", closeapi.Lead{URL: "https://a/demo", Description: "Demo"},
			closeapi.LeadUpdate{URL: ptr("https://a/demo"), Description: ptr("Demo")}},
		{"custom changed and new", closeapi.Lead{Custom: map[string]json.RawMessage{"cf_plan": json.RawMessage(`"team"`), "cf_n": json.RawMessage(`3`)}},
			closeapi.LeadUpdate{Custom: map[string]json.RawMessage{"cf_plan": json.RawMessage(`"team"`), "cf_n": json.RawMessage(`3`)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := leadChanges(&tc.want, have)
			if !reflect.DeepEqual(got, tc.out) {
				t.Fatalf("got %+v, want %+v", got, tc.out)
			}
			if after := applyLead(have, got); !leadChanges(&tc.want, after).Empty() {
				t.Fatalf("after applying the update there are still changes")
			}
		})
	}
}

func TestMemoryIsBoundedPerPartitionAndDropped(t *testing.T) {
	m := newMemory(2, false)
	for _, e := range []string{"a", "b", "c"} {
		m.put(0, e, known{ContactID: "cont_" + e})
	}
	if _, ok := m.get(0, "a"); ok {
		t.Fatal("the least recently used entry was kept beyond the bound")
	}
	if k, ok := m.get(0, "b"); !ok || k.ContactID != "cont_b" {
		t.Fatalf("b: %+v %v", k, ok)
	}
	m.put(0, "d", known{}) // b was used last: c goes
	if _, ok := m.get(0, "c"); ok {
		t.Fatal("LRU order ignored the read of b")
	}
	if _, ok := m.get(1, "b"); ok {
		t.Fatal("partition 1 sees partition 0's memory")
	}
	m.drop([]int32{0})
	if _, ok := m.get(0, "b"); ok {
		t.Fatal("a dropped partition still remembers")
	}
	k := known{Contact: closeapi.FoundContact{Phones: []closeapi.Phone{{Phone: "+1"}}}}
	m.put(1, "x", k)
	k.Contact.Phones[0].Phone = "+2"
	if got, _ := m.get(1, "x"); got.Contact.Phones[0].Phone != "+1" {
		t.Fatal("memory shares its slices with the caller")
	}
}
