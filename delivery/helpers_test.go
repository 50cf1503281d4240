package delivery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/closesink/closesink/pkg/closeapi"
)

const testKey = "api_3fVxQk7RzT9wLmN2pYc8Hs"

// testLead is a small valid lead.
func testLead() *closeapi.Lead {
	return &closeapi.Lead{
		Name: "Acme Inc",
		Contacts: []closeapi.Contact{{
			Name:   "Jane Doe",
			Emails: []closeapi.Email{{Email: "jane.doe@acme.com"}},
		}},
	}
}

// reply is one scripted server answer.
type reply struct {
	status int
	header map[string]string
	body   string
}

// scriptServer answers with the script in order, then repeats the last reply.
type scriptServer struct {
	*httptest.Server
	mu      sync.Mutex
	script  []reply
	clock   Clock
	count   atomic.Int64
	times   []time.Time // clock time at each request
	lastReq *http.Request
}

func newScriptServer(t *testing.T, clock Clock, script ...reply) *scriptServer {
	t.Helper()
	s := &scriptServer{script: script, clock: clock}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptServer) serve(w http.ResponseWriter, r *http.Request) {
	n := int(s.count.Add(1))
	s.mu.Lock()
	if s.clock != nil {
		s.times = append(s.times, s.clock.Now())
	}
	s.lastReq = r
	rep := s.script[min(n, len(s.script))-1]
	s.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

func (s *scriptServer) Times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

const createdBody = `{"id":"lead_abc","name":"Acme Inc","contact_ids":["cont_ids0"],"contacts":[{"id":"cont_first","lead_id":"lead_abc"}]}`

var ok200 = reply{status: 200, header: map[string]string{"Content-Type": "application/json"}, body: createdBody}

// newTestClient builds a client for url with test defaults, then applies mod.
func newTestClient(t *testing.T, url string, clock Clock, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		BaseURL:          url,
		APIKey:           testKey,
		Version:          "1.2.3",
		MaxRetryDuration: time.Minute,
		Clock:            clock,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Abort)
	return c
}

// attemptLog collects OnAttempt reports.
type attemptLog struct {
	mu sync.Mutex
	as []Attempt
}

func (l *attemptLog) add(a Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.as = append(l.as, a)
}

func (l *attemptLog) all() []Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Attempt(nil), l.as...)
}

// deliverAsync runs Deliver in a goroutine.
func deliverAsync(ctx context.Context, s *Sender) <-chan Outcome {
	ch := make(chan Outcome, 1)
	go func() { ch <- s.Deliver(ctx, testLead()) }()
	return ch
}

// awaitOutcome waits (real time) for an outcome, failing after limit.
func awaitOutcome(t *testing.T, ch <-chan Outcome, limit time.Duration) Outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(limit):
		t.Fatalf("Deliver did not return within %v", limit)
		return Outcome{}
	}
}
