package closeemu

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "api_testkey123"

// fakeClock is a manually advanced clock for rate-limit tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 29, 10, 30, 24, 854000000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start runs s behind an httptest server closed at test end.
func start(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.APIKeys == nil {
		cfg.APIKeys = []string{testKey}
	}
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// call sends one request with Basic auth key (none when key is "").
func call(t *testing.T, ts *httptest.Server, method, path, key, body string) response {
	t.Helper()
	return callCtx(t, context.Background(), ts, method, path, key, body)
}

func callCtx(t *testing.T, ctx context.Context, ts *httptest.Server, method, path, key, body string) response {
	t.Helper()
	resp, err := doCtx(ctx, ts, method, path, key, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

func doCtx(ctx context.Context, ts *httptest.Server, method, path, key, body string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, ts.URL+path, rd)
	if err != nil {
		return response{}, err
	}
	if key != "" {
		req.SetBasicAuth(key, "")
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func postLead(t *testing.T, ts *httptest.Server, body string) response {
	t.Helper()
	return call(t, ts, http.MethodPost, "/api/v1/lead/", testKey, body)
}

const minimalLead = `{"name":"Acme Inc","contacts":[{"name":"Jane Doe","emails":[{"email":"jane.doe@acme.com"}]}]}`

func leadFor(email string) string {
	return `{"name":"Lead","contacts":[{"emails":[{"email":"` + email + `"}]}]}`
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
