package delivery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/closesink/closesink/pkg/closeapi"
)

// Search sends the documented query to the search endpoint and keeps only
// the contacts whose email matches exactly (Close matches words).
func TestSearchKeepsExactMatches(t *testing.T) {
	srv := newScriptServer(t, nil, reply{status: 200, body: `{"data":[
		{"__object_type":"contact","id":"cont_a","lead_id":"lead_a","emails":[{"email":"jane@acme.com.evil.io"}]},
		{"__object_type":"contact","id":"cont_b","lead_id":"lead_b","name":"Jane","emails":[{"email":"x@y.z"},{"email":"JANE@acme.com"}]}],"cursor":null}`})
	var body []byte
	srv.Config.Handler = captureBody(srv.Config.Handler, &body)
	c := newTestClient(t, srv.URL, newAutoClock(), nil)
	found, out := c.Sender(0).Search(context.Background(), "jane@acme.com")
	if out.Status != Delivered || len(found) != 1 || found[0].ID != "cont_b" || found[0].LeadID != "lead_b" || found[0].Name != "Jane" {
		t.Fatalf("found %+v, outcome %+v", found, out)
	}
	if srv.lastReq.Method != http.MethodPost || srv.lastReq.URL.Path != closeapi.SearchPath {
		t.Fatalf("%s %s", srv.lastReq.Method, srv.lastReq.URL.Path)
	}
	var sent closeapi.SearchRequest
	if err := json.Unmarshal(body, &sent); err != nil || sent.Query.Queries[1].RelatedQuery.Condition.Value != "jane@acme.com" {
		t.Fatalf("search body %s (%v)", body, err)
	}
}

// Updates are PUTs of only what changes; a 404 is permanent, with its status.
func TestUpdatesAndTheirFailures(t *testing.T) {
	srv := newScriptServer(t, nil, reply{status: 200, body: `{}`}, reply{status: 404, body: `{"error":"Lead not found"}`})
	var body []byte
	srv.Config.Handler = captureBody(srv.Config.Handler, &body)
	c := newTestClient(t, srv.URL, newAutoClock(), nil)
	title := "CTO"
	if out := c.Sender(0).UpdateContact(context.Background(), "cont_1", closeapi.ContactUpdate{Title: &title}); out.Status != Delivered {
		t.Fatalf("%+v", out)
	}
	if srv.lastReq.Method != http.MethodPut || srv.lastReq.URL.Path != "/api/v1/contact/cont_1/" || string(body) != `{"title":"CTO"}` {
		t.Fatalf("%s %s %s", srv.lastReq.Method, srv.lastReq.URL.Path, body)
	}
	out := c.Sender(0).UpdateLead(context.Background(), "lead_1", closeapi.LeadUpdate{URL: &title})
	if out.Status != Permanent || out.HTTPStatus != 404 || !strings.Contains(out.Message, "Lead not found") {
		t.Fatalf("%+v", out)
	}
}

// GetLead reads custom fields; an unreadable 2xx body is permanent.
func TestGetLead(t *testing.T) {
	srv := newScriptServer(t, nil, reply{status: 200, body: `{"id":"lead_1","name":"Acme","url":"u","custom.cf_x":3}`}, reply{status: 200, body: `not json`})
	c := newTestClient(t, srv.URL, newAutoClock(), nil)
	l, out := c.Sender(0).GetLead(context.Background(), "lead_1")
	if out.Status != Delivered || l.URL != "u" || string(l.Custom["cf_x"]) != "3" || srv.lastReq.URL.Path != "/api/v1/lead/lead_1/" {
		t.Fatalf("%+v %+v", l, out)
	}
	if _, out := c.Sender(0).GetLead(context.Background(), "lead_1"); out.Status != Permanent || !strings.Contains(out.Message, "unreadable") {
		t.Fatalf("%+v", out)
	}
}

// A create that failed transiently asks beforeRetry first; true ends it
// without sending it again.
func TestCreateAsksBeforeRetrying(t *testing.T) {
	srv := newScriptServer(t, nil, reply{status: 503}, ok200)
	c := newTestClient(t, srv.URL, newAutoClock(), nil)
	asked := 0
	out := c.Sender(0).Create(context.Background(), []byte(`{}`), func(context.Context) bool { asked++; return true })
	if out.Status != Superseded || asked != 1 || srv.count.Load() != 1 {
		t.Fatalf("%+v, asked %d, requests %d", out, asked, srv.count.Load())
	}
	out = c.Sender(0).Create(context.Background(), []byte(`{}`), func(context.Context) bool { return false })
	if out.Status != Delivered || out.LeadID != "lead_abc" {
		t.Fatalf("%+v", out)
	}
}

// captureBody records each request's body before next handles it.
func captureBody(next http.Handler, into *[]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*into, _ = io.ReadAll(r.Body)
		next.ServeHTTP(w, r)
	})
}
