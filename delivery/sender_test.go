package delivery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/closesink/closesink/pkg/closeapi"
)

// Every classification row end to end: the final Status for a server that
// always answers the same status.
func TestDeliverOutcomeByStatus(t *testing.T) {
	tests := []struct {
		status   int
		want     Status
		attempts int // exact, or -1 for "more than one"
	}{
		{200, Delivered, 1}, {201, Delivered, 1}, {204, Delivered, 1},
		{400, Permanent, 1}, {401, Permanent, 1}, {402, Permanent, 1}, {403, Permanent, 1},
		{404, Permanent, 1}, {405, Permanent, 1}, {409, Permanent, 1}, {410, Permanent, 1},
		{413, Permanent, 1}, {415, Permanent, 1}, {422, Permanent, 1}, {418, Permanent, 1},
		{501, Permanent, 1}, {302, Permanent, 1},
		{408, RetriesExhausted, -1}, {425, RetriesExhausted, -1}, {429, RetriesExhausted, -1},
		{500, RetriesExhausted, -1}, {502, RetriesExhausted, -1}, {503, RetriesExhausted, -1}, {504, RetriesExhausted, -1},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			clock := newAutoClock()
			body := `{"error": "status ` + http.StatusText(tt.status) + `"}`
			if tt.status < 300 {
				body = createdBody
			}
			srv := newScriptServer(t, clock, reply{status: tt.status, body: body})
			c := newTestClient(t, srv.URL, clock, func(c *Config) { c.MaxRetryDuration = 20 * time.Second })
			o := c.Sender(0).Deliver(context.Background(), testLead())
			if o.Status != tt.want || o.HTTPStatus != tt.status {
				t.Fatalf("outcome %+v, want status %v http %d", o, tt.want, tt.status)
			}
			if tt.attempts > 0 && o.Attempts != tt.attempts || tt.attempts < 0 && o.Attempts < 2 {
				t.Errorf("attempts %d, want %d", o.Attempts, tt.attempts)
			}
			if int(srv.count.Load()) != o.Attempts {
				t.Errorf("server saw %d requests, outcome says %d", srv.count.Load(), o.Attempts)
			}
			switch o.Status {
			case Delivered:
				if o.Message != "" {
					t.Errorf("delivered with message %q", o.Message)
				}
			default:
				if tt.status != 204 && o.Message != "status "+http.StatusText(tt.status) {
					t.Errorf("message %q", o.Message)
				}
			}
			if o.Status == RetriesExhausted && o.Elapsed > 20*time.Second {
				t.Errorf("retried for %v, budget 20s", o.Elapsed)
			}
		})
	}
}

func TestDeliverRequestShape(t *testing.T) {
	var got struct {
		method, path, auth, ua, ctype, query string
		body                                 []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.query = r.Method, r.URL.Path, r.URL.RawQuery
		got.auth, got.ua, got.ctype = r.Header.Get("Authorization"), r.UserAgent(), r.Header.Get("Content-Type")
		got.body, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, createdBody)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/prefix/", nil, nil)
	lead := testLead()
	o := c.Sender(3).Deliver(context.Background(), lead)
	if o.Status != Delivered || o.LeadID != "lead_abc" || o.ContactID != "cont_first" || o.Attempts != 1 {
		t.Fatalf("outcome %+v", o)
	}
	want, _ := json.Marshal(lead)
	if got.method != "POST" || got.path != "/prefix/api/v1/lead/" || got.query != "" || string(got.body) != string(want) {
		t.Errorf("request %s %s?%s body %s", got.method, got.path, got.query, got.body)
	}
	if got.auth != "Basic "+base64.StdEncoding.EncodeToString([]byte(testKey+":")) {
		t.Errorf("auth header %q", got.auth)
	}
	if got.ua != "closesink/1.2.3" || got.ctype != "application/json" {
		t.Errorf("user agent %q content type %q", got.ua, got.ctype)
	}
}

func TestDeliverParsesCreatedIDs(t *testing.T) {
	tests := []struct {
		name, body, lead, contact string
	}{
		{"contacts", createdBody, "lead_abc", "cont_first"},
		{"contact_ids only", `{"id":"lead_x","contact_ids":["cont_y"]}`, "lead_x", "cont_y"},
		{"no contacts", `{"id":"lead_x"}`, "lead_x", ""},
		{"not JSON", `<html>ok</html>`, "", ""},
		{"empty", ``, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScriptServer(t, nil, reply{status: 200, body: tt.body})
			c := newTestClient(t, srv.URL, nil, nil)
			o := c.Sender(0).Deliver(context.Background(), testLead())
			if o.Status != Delivered || o.LeadID != tt.lead || o.ContactID != tt.contact {
				t.Errorf("outcome %+v", o)
			}
		})
	}
}

func TestDeliverRejectsUnmarshallableLead(t *testing.T) {
	srv := newScriptServer(t, nil, ok200)
	c := newTestClient(t, srv.URL, nil, nil)
	bad := testLead()
	bad.Custom = map[string]json.RawMessage{"cf_x": json.RawMessage(`{not json`)}
	for _, lead := range []*closeapi.Lead{nil, bad} {
		if o := c.Sender(0).Deliver(context.Background(), lead); o.Status != Permanent || o.Attempts != 0 || o.Message == "" {
			t.Errorf("outcome %+v", o)
		}
	}
	if srv.count.Load() != 0 {
		t.Errorf("%d requests sent", srv.count.Load())
	}
}

func TestRetryThenDeliverWithExponentialBackoff(t *testing.T) {
	clock := newAutoClock()
	srv := newScriptServer(t, clock, reply{status: 503}, reply{status: 502}, reply{status: 500}, ok200)
	var log attemptLog
	c := newTestClient(t, srv.URL, clock, func(c *Config) { c.OnAttempt = log.add })
	o := c.Sender(7).Deliver(context.Background(), testLead())
	if o.Status != Delivered || o.Attempts != 4 || o.HTTPStatus != 200 || o.LeadID != "lead_abc" {
		t.Fatalf("outcome %+v", o)
	}
	as := log.all()
	if len(as) != 4 {
		t.Fatalf("%d attempts reported", len(as))
	}
	for i, base := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		lo, hi := base*8/10, base*12/10
		if a := as[i]; a.Wait < lo || a.Wait > hi || a.Class != ClassRetry || a.Number != i+1 || a.Partition != 7 {
			t.Errorf("attempt %d: %+v, want wait in [%v, %v]", i+1, a, lo, hi)
		}
	}
	if last := as[3]; last.Class != ClassSuccess || last.Wait != 0 || last.HTTPStatus != 200 {
		t.Errorf("last attempt %+v", last)
	}
	var total time.Duration
	for _, a := range as {
		total += a.Wait
	}
	if o.Elapsed != total {
		t.Errorf("elapsed %v (virtual), waits sum %v", o.Elapsed, total)
	}
}

func TestBackoffIsCappedPerWait(t *testing.T) {
	clock := newAutoClock()
	srv := newScriptServer(t, clock, reply{status: 503})
	var log attemptLog
	c := newTestClient(t, srv.URL, clock, func(c *Config) {
		c.BackoffBase, c.BackoffMax, c.MaxRetryDuration = time.Second, 3*time.Second, time.Minute
		c.OnAttempt = log.add
	})
	o := c.Sender(0).Deliver(context.Background(), testLead())
	if o.Status != RetriesExhausted {
		t.Fatalf("outcome %+v", o)
	}
	as := log.all()
	if len(as) < 10 {
		t.Fatalf("only %d attempts in a minute of 3s waits", len(as))
	}
	for _, a := range as[3 : len(as)-1] {
		if a.Wait > 3*time.Second || a.Wait < 2400*time.Millisecond {
			t.Errorf("capped wait %v outside [2.4s, 3s]", a.Wait)
		}
	}
}

func TestServerWaitVersusBackoff(t *testing.T) {
	rl := func(status int, h map[string]string, body string) reply {
		return reply{status: status, header: h, body: body}
	}
	tests := []struct {
		name   string
		first  reply
		lo, hi time.Duration
	}{
		{"Retry-After longer than backoff wins", rl(503, map[string]string{"Retry-After": "7"}, ""), 7 * time.Second, 7 * time.Second},
		{"Retry-After shorter than backoff loses", rl(503, map[string]string{"Retry-After": "0"}, ""), 400 * time.Millisecond, 600 * time.Millisecond},
		{"503 RateLimit reset is the window, not a retry hint", rl(503, map[string]string{"RateLimit": "limit=10, remaining=5, reset=9"}, ""), 400 * time.Millisecond, 600 * time.Millisecond},
		{"429 decimal reset beats Retry-After", rl(429, map[string]string{"RateLimit": "limit=10, remaining=0, reset=1.5", "Retry-After": "2"}, ""), 1500 * time.Millisecond, 1500 * time.Millisecond},
		{"429 Retry-After only", rl(429, map[string]string{"Retry-After": "3"}, ""), 3 * time.Second, 3 * time.Second},
		{"429 shorter than backoff is still honoured", rl(429, map[string]string{"RateLimit": "limit=10, remaining=0, reset=0.1"}, ""), 100 * time.Millisecond, 100 * time.Millisecond},
		{"429 body rate_reset string", rl(429, nil, `{"rate_reset": "3.5"}`), 3500 * time.Millisecond, 3500 * time.Millisecond},
		{"429 body nested rate_reset", rl(429, nil, `{"error": {"rate_reset": 4}}`), 4 * time.Second, 4 * time.Second},
		{"429 without reset info uses the default", rl(429, nil, `{"error": "Too many requests"}`), 2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newAutoClock()
			srv := newScriptServer(t, clock, tt.first, ok200)
			var log attemptLog
			c := newTestClient(t, srv.URL, clock, func(c *Config) { c.OnAttempt = log.add })
			o := c.Sender(0).Deliver(context.Background(), testLead())
			if o.Status != Delivered || o.Attempts != 2 {
				t.Fatalf("outcome %+v", o)
			}
			if w := log.all()[0].Wait; w < tt.lo || w > tt.hi {
				t.Errorf("wait %v, want [%v, %v]", w, tt.lo, tt.hi)
			}
			if times := srv.Times(); times[1].Sub(times[0]) < tt.lo {
				t.Errorf("second request only %v after the first", times[1].Sub(times[0]))
			}
		})
	}
}

// 429s are flow control: they must not advance the exponential backoff.
func TestRateLimitedAnswersDoNotGrowBackoff(t *testing.T) {
	clock := newAutoClock()
	r429 := reply{status: 429, header: map[string]string{"Retry-After": "1"}}
	srv := newScriptServer(t, clock, r429, r429, r429, r429, reply{status: 503}, ok200)
	var log attemptLog
	c := newTestClient(t, srv.URL, clock, func(c *Config) { c.OnAttempt = log.add })
	if o := c.Sender(0).Deliver(context.Background(), testLead()); o.Status != Delivered || o.Attempts != 6 {
		t.Fatalf("outcome %+v", o)
	}
	if w := log.all()[4].Wait; w < 400*time.Millisecond || w > 600*time.Millisecond {
		t.Errorf("first 503 after four 429s waited %v, want the first backoff step", w)
	}
}

func TestMaxRetryDurationExhaustion(t *testing.T) {
	clock := newAutoClock()
	srv := newScriptServer(t, clock, reply{status: 502, body: `{"error": "upstream down"}`})
	var log attemptLog
	c := newTestClient(t, srv.URL, clock, func(c *Config) {
		c.BackoffBase, c.BackoffMax, c.MaxRetryDuration = time.Second, 4*time.Second, 8500*time.Millisecond
		c.OnAttempt = log.add
	})
	o := c.Sender(0).Deliver(context.Background(), testLead())
	if o.Status != RetriesExhausted || o.HTTPStatus != 502 || o.Message != "upstream down" || !o.Final() {
		t.Fatalf("outcome %+v", o)
	}
	if o.Elapsed > 8500*time.Millisecond {
		t.Errorf("elapsed %v beyond the 8.5s budget", o.Elapsed)
	}
	as := log.all()
	if len(as) != o.Attempts || as[len(as)-1].Wait != 0 {
		t.Errorf("attempt log %+v", as)
	}
	// Waits of 1s, 2s, 4s, 4s, each ±20% and at most 4s: three always fit in
	// 8.5s (at most 1.2+2.4+4 = 7.6s), four never do (at least 0.8+1.6+3.2+3.2 = 8.8s).
	if o.Attempts != 4 {
		t.Errorf("attempts %d, want 4", o.Attempts)
	}
}

func TestZeroMaxRetryDurationRetriesForever(t *testing.T) {
	clock := newAutoClock()
	script := make([]reply, 60)
	for i := range script {
		script[i] = reply{status: 503}
	}
	srv := newScriptServer(t, clock, append(script, ok200)...)
	c := newTestClient(t, srv.URL, clock, func(c *Config) { c.MaxRetryDuration = 0 })
	o := c.Sender(0).Deliver(context.Background(), testLead())
	if o.Status != Delivered || o.Attempts != 61 || o.Elapsed < 20*time.Minute {
		t.Fatalf("outcome %+v", o)
	}
}
