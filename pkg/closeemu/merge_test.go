package closeemu

import (
	"errors"
	"net/http"
	"slices"
	"testing"
)

func TestMergeMovesContactsAndDeletesSource(t *testing.T) {
	for _, how := range []string{"API", "Go"} {
		t.Run(how, func(t *testing.T) {
			s, ts := start(t, Config{})
			dst := mustCreate(t, ts, leadFor("jane@acme.com"))
			other := mustCreate(t, ts, leadFor("bob@acme.com"))
			src := mustCreate(t, ts, `{"name":"Dup","contacts":[{"emails":[{"email":"jane@acme.com"}]},{"emails":[{"email":"j@home.io"}]}]}`)
			if got := s.ContactsByEmail()["jane@acme.com"]; got != 2 {
				t.Fatalf("before: %d contacts for jane", got)
			}

			if how == "API" {
				r := call(t, ts, http.MethodPost, mergePath, testKey, `{"source":"`+src.id+`","destination":"`+dst.id+`"}`)
				if r.status != http.StatusOK || string(r.body) != "{}" {
					t.Fatalf("merge: %d %s", r.status, r.body)
				}
			} else if err := s.Merge(src.id, dst.id); err != nil {
				t.Fatal(err)
			}

			// The source is gone everywhere.
			wantError(t, call(t, ts, http.MethodGet, leadPath+src.id+"/", testKey, ""), 404)
			wantError(t, put(t, ts, leadPath+src.id+"/", `{"description":"x"}`), 404)
			if _, ok := s.Lead(src.id); ok {
				t.Fatal("Lead(source) still there")
			}
			var ids []string
			for _, l := range s.Leads() {
				ids = append(ids, l.ID)
			}
			if want := []string{dst.id, other.id}; !slices.Equal(ids, want) {
				t.Fatalf("Leads = %v, want %v", ids, want)
			}
			if b := s.LeadBodies(); len(b) != 2 || string(b[1]) != leadFor("bob@acme.com") {
				t.Fatalf("LeadBodies not aligned with Leads: %q", b)
			}
			// Its contacts now belong to the destination, in order.
			l, _ := s.Lead(dst.id)
			want := append(slices.Clone(dst.contacts), src.contacts...)
			if !slices.Equal(l.ContactIDs, want) || len(l.Contacts) != 3 {
				t.Fatalf("destination contacts %v, want %v", l.ContactIDs, want)
			}
			for _, id := range src.contacts {
				if c, ok := s.Contact(id); !ok || c.LeadID != dst.id {
					t.Fatalf("contact %s: %+v %v", id, c, ok)
				}
				if r := put(t, ts, contactPath+id+"/", `{"title":"moved"}`); r.status != 200 {
					t.Fatalf("PUT moved contact: %d", r.status)
				}
			}
			res := searchFound(t, ts, "jane@acme.com", 0)
			if len(res.Data) != 2 || res.Data[0].LeadID != dst.id || res.Data[1].LeadID != dst.id {
				t.Fatalf("search after merge: %+v", res.Data)
			}
			if got := s.LeadsByEmail(); got["jane@acme.com"] != 1 || got["j@home.io"] != 1 {
				t.Fatalf("LeadsByEmail = %v", got)
			}
			if st := s.Stats(); st.Merges != 1 || st.Created != 3 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestMergeRejects(t *testing.T) {
	s, ts := start(t, Config{})
	a := mustCreate(t, ts, leadFor("a@acme.com"))
	b := mustCreate(t, ts, leadFor("b@acme.com"))
	tests := []struct {
		name, body string
	}{
		{"same lead", `{"source":"` + a.id + `","destination":"` + a.id + `"}`},
		{"unknown source", `{"source":"lead_nope","destination":"` + b.id + `"}`},
		{"unknown destination", `{"source":"` + a.id + `","destination":"lead_nope"}`},
		{"no destination", `{"source":"` + a.id + `"}`},
		{"empty source", `{"source":"","destination":"` + b.id + `"}`},
		{"source not a string", `{"source":1,"destination":"` + b.id + `"}`},
		{"not an object", `"x"`},
		{"not JSON", `{`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, call(t, ts, http.MethodPost, mergePath, testKey, tt.body), 400)
		})
	}
	if r := call(t, ts, http.MethodGet, mergePath, testKey, ""); r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Fatalf("GET merge: %d %v", r.status, r.header)
	}
	if len(s.Leads()) != 2 || s.Stats().Merges != 0 {
		t.Fatalf("a rejected merge changed something: %d leads, %+v", len(s.Leads()), s.Stats())
	}
	for _, tt := range []struct {
		src, dst   string
		wantNoLead bool
	}{
		{a.id, a.id, false},
		{"lead_nope", b.id, true},
		{a.id, "lead_nope", true},
	} {
		err := s.Merge(tt.src, tt.dst)
		if err == nil || errors.Is(err, ErrNoSuchLead) != tt.wantNoLead {
			t.Fatalf("Merge(%s, %s) = %v", tt.src, tt.dst, err)
		}
	}
	// A second merge of the same source is a 400: it no longer exists.
	if err := s.Merge(a.id, b.id); err != nil {
		t.Fatal(err)
	}
	wantError(t, call(t, ts, http.MethodPost, mergePath, testKey, `{"source":"`+a.id+`","destination":"`+b.id+`"}`), 400)
}
