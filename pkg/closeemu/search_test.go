package closeemu

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSearchMatchesWordsNotStrings(t *testing.T) {
	_, ts := start(t, Config{})
	ids := map[string]string{}
	for _, e := range []string{
		"jane@acme.com", "jane@acme.com.evil.io", "x.jane@acme.com", "JANE@ACME.COM",
		"janet@acme.com", "bob@acme.com", "jane@acme.co",
	} {
		ids[e] = mustCreate(t, ts, leadFor(e)).contacts[0]
	}
	tests := []struct {
		query string
		want  []string // addresses, in creation order
	}{
		{"jane@acme.com", []string{"jane@acme.com", "jane@acme.com.evil.io", "x.jane@acme.com", "JANE@ACME.COM"}},
		{"Jane@Acme.Com", []string{"jane@acme.com", "jane@acme.com.evil.io", "x.jane@acme.com", "JANE@ACME.COM"}},
		{"janet@acme.com", []string{"janet@acme.com"}},
		{"acme.com.evil", []string{"jane@acme.com.evil.io"}},
		{"jane@acme.co", []string{"jane@acme.co"}}, // "co" is not "com": words, not prefixes
		{"nobody@acme.com", nil},
		{"acme.jane@com", nil}, // the words in another order
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			want := []string{}
			for _, e := range tt.want {
				want = append(want, ids[e])
			}
			if got := searchIDs(t, ts, tt.query); !slices.Equal(got, want) {
				t.Fatalf("found %v, want %v", got, want)
			}
		})
	}
}

func TestSearchResultShape(t *testing.T) {
	_, ts := start(t, Config{})
	l := mustCreate(t, ts, `{"name":"Acme","contacts":[{"name":"Jane","title":"CTO",
		"emails":[{"email":"jane@acme.com","type":"work"}],"phones":[{"phone":"+14155550100"}]}]}`)
	mustCreate(t, ts, leadFor("jane@acme.com"))
	mustCreate(t, ts, leadFor("jane@acme.com"))

	res := searchFound(t, ts, "jane@acme.com", 2)
	if len(res.Data) != 2 {
		t.Fatalf("_limit 2: got %d results", len(res.Data))
	}
	c := res.Data[0]
	if c.ObjectType != "contact" || c.ID != l.contacts[0] || c.LeadID != l.id || c.Name != "Jane" || c.Title != "CTO" ||
		len(c.Emails) != 1 || c.Emails[0].Email != "jane@acme.com" || c.Emails[0].Type != "work" ||
		len(c.Phones) != 1 || c.Phones[0].Phone != "+14155550100" {
		t.Fatalf("found %+v", c)
	}

	// _fields narrows; __object_type, id and lead_id are always there.
	body := `{"query":` + mustJSON(t, mustQuery(t, "jane@acme.com")) + `,"_fields":{"contact":["name"]},"_limit":1}`
	r := searchRaw(t, ts, body)
	var raw struct{ Data []map[string]any }
	if err := json.Unmarshal(r.body, &raw); err != nil || r.status != 200 || len(raw.Data) != 1 {
		t.Fatalf("%d %s (%v)", r.status, r.body, err)
	}
	var keys []string
	for k := range raw.Data[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"__object_type", "id", "lead_id", "name"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
}

func mustQuery(t *testing.T, email string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(searchBody(t, email, 0)), &m); err != nil {
		t.Fatal(err)
	}
	return m["query"]
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSearchRejectsOtherShapes(t *testing.T) {
	_, ts := start(t, Config{})
	mustCreate(t, ts, leadFor("jane@acme.com"))
	good := searchBody(t, "jane@acme.com", 0)
	tests := []struct {
		name string
		body string
		want int
	}{
		{"the ContactByEmail shape", good, 200},
		{"conditions swapped", swapConditions(t, good), 200},
		{"or instead of and", strings.Replace(good, `"type":"and"`, `"type":"or"`, 1), 400},
		{"full_words mode", strings.Replace(good, `"mode":"phrase"`, `"mode":"full_words"`, 1), 400},
		{"lead objects", strings.Replace(good, `"object_type":"contact"`, `"object_type":"lead"`, 1), 400},
		{"phone field", strings.Replace(good, `"field_name":"email"`, `"field_name":"phone"`, 1), 400},
		{"custom field type", strings.Replace(good, `"type":"regular_field"`, `"type":"custom_field"`, 1), 400},
		{"related lead", strings.Replace(good, `"related_object_type":"contact_email"`, `"related_object_type":"lead"`, 1), 400},
		{"unknown key", strings.Replace(good, `"type":"text"`, `"type":"text","negate":true`, 1), 400},
		{"unknown top-level key", strings.Replace(good, `{"query"`, `{"sort":[],"query"`, 1), 400},
		{"bare object_type", `{"query":{"type":"object_type","object_type":"contact"}}`, 400},
		{"extra condition", strings.Replace(good, `"queries":[`, `"queries":[{"type":"object_type","object_type":"contact"},`, 1), 400},
		{"no words", searchBody(t, "@.", 0), 400},
		{"lead fields", strings.Replace(good, `"_fields":{"contact"`, `"_fields":{"lead"`, 1), 400},
		{"negative limit", searchBody(t, "jane@acme.com", -1), 400},
		{"not JSON", `{"query":`, 400},
		{"an array", `[]`, 400},
		{"empty body", ``, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := searchRaw(t, ts, tt.body)
			if tt.want == 200 {
				if r.status != 200 || !strings.Contains(string(r.body), `"__object_type":"contact"`) {
					t.Fatalf("%d %s", r.status, r.body)
				}
				return
			}
			wantError(t, r, tt.want)
		})
	}
	if r := call(t, ts, http.MethodGet, searchPath, testKey, ""); r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Fatalf("GET search: %d %v", r.status, r.header)
	}
}

// swapConditions reverses the and's two conditions.
func swapConditions(t *testing.T, body string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	q := m["query"].(map[string]any)
	qs := q["queries"].([]any)
	q["queries"] = []any{qs[1], qs[0]}
	return mustJSON(t, m)
}

func TestSearchIndexDelay(t *testing.T) {
	clock := newFakeClock()
	s, ts := start(t, Config{IndexDelay: 5 * time.Second, Now: clock.Now})
	l := mustCreate(t, ts, leadFor("jane@acme.com"))
	id := l.contacts[0]

	steps := []struct {
		name    string
		advance time.Duration
		do      func()
		query   string
		want    []string
	}{
		{name: "just created", query: "jane@acme.com", want: []string{}},
		{name: "almost indexed", advance: 5*time.Second - time.Nanosecond, query: "jane@acme.com", want: []string{}},
		{name: "indexed", advance: time.Nanosecond, query: "jane@acme.com", want: []string{id}},
		{
			name: "email changed: the old address is still found",
			do: func() {
				if r := put(t, ts, contactPath+id+"/", `{"emails":[{"email":"jane@new.io"}]}`); r.status != 200 {
					t.Fatalf("PUT: %d %s", r.status, r.body)
				}
			},
			query: "jane@acme.com", want: []string{id},
		},
		{name: "and the new one is not", query: "jane@new.io", want: []string{}},
		{name: "reindexed: new found", advance: 5 * time.Second, query: "jane@new.io", want: []string{id}},
		{name: "reindexed: old gone", query: "jane@acme.com", want: []string{}},
		{
			name: "FlushIndex makes a new contact searchable at once",
			do:   func() { mustCreate(t, ts, leadFor("bob@acme.com")); s.FlushIndex() },
			// The new contact's id is checked by count below.
			query: "bob@acme.com",
		},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		if st.do != nil {
			st.do()
		}
		got := searchIDs(t, ts, st.query)
		if st.want == nil {
			if len(got) != 1 {
				t.Fatalf("%s: found %v, want one contact", st.name, got)
			}
			continue
		}
		if !slices.Equal(got, st.want) {
			t.Fatalf("%s: found %v, want %v", st.name, got, st.want)
		}
	}
	// Stored state is not delayed, only search.
	if c, ok := s.Contact(id); !ok || c.Emails[0].Email != "jane@new.io" {
		t.Fatalf("Contact = %+v, %v", c, ok)
	}
}

func TestSearchForgetsEvictedContacts(t *testing.T) {
	s, ts := start(t, Config{MaxLeads: 1})
	mustCreate(t, ts, leadFor("jane@acme.com"))
	mustCreate(t, ts, leadFor("bob@acme.com"))
	if got := searchIDs(t, ts, "jane@acme.com"); len(got) != 0 {
		t.Fatalf("evicted contact still found: %v", got)
	}
	if got := s.ContactsByEmail(); len(got) != 1 || got["bob@acme.com"] != 1 {
		t.Fatalf("ContactsByEmail = %v", got)
	}
	if st := s.Stats(); st.Searches != 1 {
		t.Fatalf("Searches = %d", st.Searches)
	}
}
