package closeemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/closesink/closesink/pkg/closeapi"
)

// created is a lead made through the API, with its contact ids.
type created struct {
	id       string
	contacts []string
}

// mustCreate posts body and returns the new lead's ids.
func mustCreate(t *testing.T, ts *httptest.Server, body string) created {
	t.Helper()
	r := postLead(t, ts, body)
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var l closeapi.CreatedLead
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	return created{id: l.ID, contacts: l.ContactIDs}
}

// searchBody is the JSON of closeapi.ContactByEmail.
func searchBody(t *testing.T, email string, limit int) string {
	t.Helper()
	b, err := json.Marshal(closeapi.ContactByEmail(email, limit))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// searchRaw posts a search body.
func searchRaw(t *testing.T, ts *httptest.Server, body string) response {
	t.Helper()
	return call(t, ts, http.MethodPost, searchPath, testKey, body)
}

// searchIDs runs ContactByEmail(email) and returns the found contact ids.
func searchIDs(t *testing.T, ts *httptest.Server, email string) []string {
	t.Helper()
	res := searchFound(t, ts, email, 0)
	ids := []string{}
	for _, c := range res.Data {
		ids = append(ids, c.ID)
	}
	return ids
}

func searchFound(t *testing.T, ts *httptest.Server, email string, limit int) closeapi.SearchResponse {
	t.Helper()
	r := searchRaw(t, ts, searchBody(t, email, limit))
	if r.status != http.StatusOK {
		t.Fatalf("search %q: %d %s", email, r.status, r.body)
	}
	var res closeapi.SearchResponse
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatalf("search %q: %v\n%s", email, err, r.body)
	}
	if res.Data == nil || res.Cursor != nil {
		t.Fatalf("search %q: want data [] and cursor null, got %s", email, r.body)
	}
	return res
}

func put(t *testing.T, ts *httptest.Server, path, body string) response {
	t.Helper()
	return call(t, ts, http.MethodPut, path, testKey, body)
}

func getExisting(t *testing.T, ts *httptest.Server, id string) closeapi.ExistingLead {
	t.Helper()
	r := call(t, ts, http.MethodGet, leadPath+id+"/", testKey, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET lead: %d %s", r.status, r.body)
	}
	var l closeapi.ExistingLead
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// wantError checks a Close-shaped error body for status.
func wantError(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var b closeapi.ErrorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error body is not JSON: %v\n%s", err, r.body)
	}
	if b.Error == nil && len(b.Errors) == 0 && len(b.FieldErrors) == 0 {
		t.Fatalf("error body says nothing: %s", r.body)
	}
}
