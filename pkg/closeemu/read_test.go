package closeemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

func TestGetLead(t *testing.T) {
	_, ts := start(t, Config{})
	created := postLead(t, ts, minimalLead)
	id := created.json(t)["id"].(string)

	for _, path := range []string{"/api/v1/lead/" + id + "/", "/api/v1/lead/" + id} {
		r := call(t, ts, "GET", path, testKey, "")
		if r.status != 200 || string(r.body) != string(created.body) {
			t.Fatalf("GET %s = %d %s, want the create response", path, r.status, r.body)
		}
	}
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/v1/lead/lead_doesnotexist/", 404},
		{"GET", "/api/v1/lead/" + id + "/extra/", 404},
		{"GET", "/api/v1/lead//", 404},
		{"GET", "/api/v1/nothing/", 404},
		{"GET", "/", 404},
		{"DELETE", "/api/v1/lead/" + id + "/", 405},
		{"PUT", "/api/v1/lead/", 405},
		{"POST", "/api/v1/me/", 405},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := call(t, ts, tt.method, tt.path, testKey, "")
			if r.status != tt.want {
				t.Fatalf("status = %d, want %d", r.status, tt.want)
			}
			if msg, _ := r.json(t)["error"].(string); msg == "" {
				t.Fatalf(`want {"error": "..."}, got %s`, r.body)
			}
			if tt.want == 405 && r.header.Get("Allow") == "" {
				t.Fatal("405 without Allow header")
			}
		})
	}
}

func TestListLeadsPagination(t *testing.T) {
	s, ts := start(t, Config{})
	const n = 205
	for i := range n {
		if r := postLead(t, ts, fmt.Sprintf(`{"name":"lead %d"}`, i)); r.status != 200 {
			t.Fatalf("create %d: %d", i, r.status)
		}
	}
	stored := s.Leads()
	type page struct {
		Data    []map[string]any `json:"data"`
		HasMore bool             `json:"has_more"`
	}
	tests := []struct {
		query     string
		wantFirst int // index into stored, -1 for empty
		wantLen   int
		wantMore  bool
	}{
		{"", 0, 100, true},
		{"?_limit=10", 0, 10, true},
		{"?_skip=200&_limit=10", 200, 5, false},
		{"?_skip=195&_limit=10", 195, 10, false},
		{"?_skip=194&_limit=10", 194, 10, true},
		{"?_limit=500", 0, 200, true}, // capped at 200
		{"?_limit=0", 0, 100, true},   // 0 means the default
		{"?_skip=1000", -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := call(t, ts, "GET", "/api/v1/lead/"+tt.query, testKey, "")
			if r.status != 200 {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			var p page
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Data) != tt.wantLen || p.HasMore != tt.wantMore {
				t.Fatalf("len=%d has_more=%v, want %d/%v", len(p.Data), p.HasMore, tt.wantLen, tt.wantMore)
			}
			if tt.wantFirst >= 0 && p.Data[0]["id"] != stored[tt.wantFirst].ID {
				t.Fatalf("first id = %v, want lead %d", p.Data[0]["id"], tt.wantFirst)
			}
		})
	}
	for _, q := range []string{"?_skip=-1", "?_limit=abc"} {
		if r := call(t, ts, "GET", "/api/v1/lead/"+q, testKey, ""); r.status != 400 {
			t.Errorf("%s: status %d, want 400", q, r.status)
		}
	}

	r := call(t, ts, "GET", "/api/v1/lead/?_limit=1&_fields=id,name,id,nope", testKey, "")
	want := fmt.Sprintf(`{"data":[{"id":%q,"name":"lead 0"}],"has_more":true}`, stored[0].ID)
	if string(r.body) != want {
		t.Fatalf("_fields: got %s, want %s", r.body, want)
	}
}

func TestMe(t *testing.T) {
	_, ts := start(t, Config{OrganizationID: "orga_me"})
	r := call(t, ts, http.MethodGet, "/api/v1/me/", testKey, "")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	orgs, _ := r.json(t)["organizations"].([]any)
	if len(orgs) != 1 || orgs[0].(map[string]any)["id"] != "orga_me" {
		t.Fatalf("organizations = %v", orgs)
	}
}
