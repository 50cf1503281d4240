package closeemu

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// statusSequence posts n leads sequentially and returns the statuses.
func statusSequence(t *testing.T, f Faults, n int) []int {
	t.Helper()
	s, ts := start(t, Config{})
	s.SetFaults(f)
	out := make([]int, n)
	for i := range out {
		out[i] = postLead(t, ts, minimalLead).status
	}
	return out
}

func TestFaultErrorRateDeterministic(t *testing.T) {
	const n = 200
	a := statusSequence(t, Faults{ErrorRate: 0.3, Seed: 42}, n)
	b := statusSequence(t, Faults{ErrorRate: 0.3, Seed: 42}, n)
	if !slices.Equal(a, b) {
		t.Fatal("same seed gave different fault sequences")
	}
	errs := 0
	for _, st := range a {
		switch st {
		case 503:
			errs++
		case 200:
		default:
			t.Fatalf("unexpected status %d", st)
		}
	}
	// 30% of 200 is 60; the binomial standard deviation is ~6.5.
	if errs < 35 || errs > 85 {
		t.Fatalf("%d errors out of %d at rate 0.3", errs, n)
	}
	if c := statusSequence(t, Faults{ErrorRate: 0.3, Seed: 43}, n); slices.Equal(a, c) {
		t.Fatal("different seeds gave the same sequence")
	}
	for _, st := range statusSequence(t, Faults{ErrorRate: 1, ErrorStatus: 502}, 5) {
		if st != 502 {
			t.Fatalf("ErrorRate 1 with ErrorStatus 502 gave %d", st)
		}
	}
	for _, st := range statusSequence(t, Faults{ErrorRate: 0, Seed: 1}, 20) {
		if st != 200 {
			t.Fatalf("ErrorRate 0 gave %d", st)
		}
	}
}

func TestFaultScriptOrder(t *testing.T) {
	s, ts := start(t, Config{})
	// ErrorRate 1 proves the script wins while it lasts; 204 behaves normally.
	s.SetFaults(Faults{Script: []int{503, 0, 429, 500, 400, 204, 401}, ErrorRate: 1, ErrorStatus: 502, RateReset: 1500 * time.Millisecond})
	want := []int{503, 200, 429, 500, 400, 200, 401, 502}
	for i, w := range want {
		r := postLead(t, ts, minimalLead)
		if r.status != w {
			t.Fatalf("request %d: status %d, want %d", i, r.status, w)
		}
		switch w {
		case 429:
			if r.header.Get("Retry-After") != "2" || r.header.Get("RateLimit") != "limit=1, remaining=0, reset=1.5" {
				t.Fatalf("injected 429 headers: Retry-After %q RateLimit %q", r.header.Get("Retry-After"), r.header.Get("RateLimit"))
			}
		case 503, 500, 502:
			if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				t.Fatalf("injected %d should look like a proxy page, got %q", w, r.header.Get("Content-Type"))
			}
		case 400:
			if _, ok := r.json(t)["field-errors"]; !ok {
				t.Fatalf("injected 400 should have Close's validation shape: %s", r.body)
			}
		case 401:
			if r.json(t)["error"] != "Unauthorized" {
				t.Fatalf("injected 401 body %s", r.body)
			}
		}
	}
	if n := len(s.Leads()); n != 2 {
		t.Fatalf("only the normal requests create leads; have %d", n)
	}
	// Requests that are not POST /lead/ do not consume the script.
	s.SetFaults(Faults{Script: []int{503}})
	call(t, ts, "GET", "/api/v1/me/", testKey, "")
	if r := postLead(t, ts, minimalLead); r.status != 503 {
		t.Fatalf("script consumed by a GET: %d", r.status)
	}
}

func TestFaultStatusForEmail(t *testing.T) {
	s, ts := start(t, Config{})
	s.SetFaults(Faults{StatusForEmail: map[string]int{" Bad@Example.com ": 422, "ok@example.com": 200}})
	tests := []struct {
		body string
		want int
	}{
		{leadFor("bad@example.com"), 422},
		{leadFor("BAD@EXAMPLE.COM"), 422},
		{`{"contacts":[{"emails":[{"email":"bad@example.com"}]}]}`, 422}, // wins over validation
		{leadFor("ok@example.com"), 200},
		{leadFor("other@example.com"), 200},
	}
	for _, tt := range tests {
		if r := postLead(t, ts, tt.body); r.status != tt.want {
			t.Errorf("%s: status %d, want %d", tt.body, r.status, tt.want)
		}
	}
	if n := len(s.Leads()); n != 2 {
		t.Fatalf("want 2 leads created, have %d", n)
	}
}

func TestFaultLatency(t *testing.T) {
	s, ts := start(t, Config{})
	s.SetFaults(Faults{Latency: 30 * time.Millisecond})
	began := time.Now()
	if r := postLead(t, ts, minimalLead); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if took := time.Since(began); took < 30*time.Millisecond {
		t.Fatalf("answered in %v, want >= 30ms", took)
	}

	// A latency far beyond the test's budget must end when the client gives up.
	s.SetFaults(Faults{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began = time.Now()
	if _, err := doCtx(ctx, ts, "POST", "/api/v1/lead/", testKey, minimalLead); err == nil {
		t.Fatal("want a client error from the context deadline")
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("client waited %v", took)
	}
	waitFor(t, "the handler to abandon the request", func() bool { return s.Stats().Cancelled == 1 })
	if n := len(s.Leads()); n != 1 {
		t.Fatalf("an abandoned request created a lead; have %d", n)
	}
}

func TestFaultLatencyKeepsBodyCap(t *testing.T) {
	s, ts := start(t, Config{MaxBodyBytes: 64})
	s.SetFaults(Faults{Latency: time.Millisecond})
	if r := postLead(t, ts, `{"name":"`+strings.Repeat("x", 100)+`"}`); r.status != 413 {
		t.Fatalf("status %d, want 413", r.status)
	}
	if r := postLead(t, ts, `{"name":"small"}`); r.status != 200 {
		t.Fatalf("status %d, want 200", r.status)
	}
}

func TestFaultDropConnection(t *testing.T) {
	s, ts := start(t, Config{})
	s.SetFaults(Faults{DropConnRate: 1})
	for _, method := range []string{"POST", "GET"} {
		_, err := doCtx(context.Background(), ts, method, "/api/v1/lead/", testKey, minimalLead)
		if err == nil {
			t.Fatalf("%s: want a connection error", method)
		}
	}
	if len(s.Leads()) != 0 {
		t.Fatal("a dropped request created a lead")
	}
	if st := s.Stats(); st.Dropped < 2 || len(st.ByStatus) != 0 {
		t.Fatalf("stats = %+v", st)
	}

	// A fractional rate drops some and answers the rest, deterministically by seed.
	outcome := func() []bool {
		s.SetFaults(Faults{DropConnRate: 0.5, Seed: 7})
		var got []bool
		for range 40 {
			// A fresh connection per request keeps the transport from retrying
			// idempotent requests on a reused connection.
			_, err := doCtx(context.Background(), ts, "POST", "/api/v1/lead/", testKey, minimalLead)
			got = append(got, err == nil)
			ts.Client().CloseIdleConnections()
		}
		return got
	}
	first := outcome()
	if !slices.Contains(first, true) || !slices.Contains(first, false) {
		t.Fatalf("rate 0.5 over 40 requests: %v", first)
	}
	if second := outcome(); !slices.Equal(first, second) {
		t.Fatal("same seed, different drops")
	}
}

func TestFaultDropWithoutHijacker(t *testing.T) {
	s := New(Config{APIKeys: []string{testKey}})
	s.SetFaults(Faults{DropConnRate: 1})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/me/", nil)
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadGateway || rec.Header().Get("Connection") != "close" {
		t.Fatalf("fallback = %d %v", rec.Code, rec.Header())
	}
}

func TestSetFaultsClampsInvalidValues(t *testing.T) {
	s, ts := start(t, Config{})
	s.SetFaults(Faults{Script: []int{42, 1000}, ErrorRate: 7})
	for i, want := range []int{500, 500, 503} {
		if r := postLead(t, ts, minimalLead); r.status != want {
			t.Fatalf("request %d: %d, want %d", i, r.status, want)
		}
	}
}
