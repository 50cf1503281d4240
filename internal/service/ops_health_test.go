package service

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closesink/closesink/internal/config"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// probe asks handler h and returns the status code and body.
func probe(h http.HandlerFunc) (int, string) {
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Code, rec.Body.String()
}

func wantProbe(t *testing.T, step string, h http.HandlerFunc, code int, has string) {
	t.Helper()
	got, body := probe(h)
	if got != code || !strings.Contains(body, has) {
		t.Fatalf("%s: %d %q, want %d with %q", step, got, body, code, has)
	}
}

// Every readiness transition, on an injected clock: not ready before the
// group assigns anything; ready with an empty assignment; not ready while
// Kafka has not answered for longer than the threshold, and ready again at
// the next answer; not ready while the source topic is missing; not ready
// from a 401/403 until a 2xx (other statuses change nothing); not ready
// after a lost session until the next assignment; not ready once stopping.
func TestReadinessTransitions(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := newHealth(clk.now, "leads", 30*time.Second, 2*time.Minute)
	wantProbe(t, "start", h.serveReady, 503, "joining")

	h.assigned(0)
	wantProbe(t, "joined with no partition", h.serveReady, 200, "ready: in the group with 0 partition(s) of leads")
	h.assigned(3)
	wantProbe(t, "joined", h.serveReady, 200, "3 partition(s)")

	clk.advance(30 * time.Second) // exactly the threshold: still ready
	wantProbe(t, "broker silent 30s", h.serveReady, 200, "ready")
	clk.advance(time.Second)
	wantProbe(t, "broker silent 31s", h.serveReady, 503, "Kafka unreachable for 31s (over 30s)")
	h.brokerAnswered(true)
	wantProbe(t, "broker back", h.serveReady, 200, "ready")

	h.brokerAnswered(false)
	wantProbe(t, "topic deleted", h.serveReady, 503, "source topic leads does not exist")
	h.brokerAnswered(true)
	wantProbe(t, "topic back", h.serveReady, 200, "ready")

	h.closeStatus(401)
	wantProbe(t, "key rejected", h.serveReady, 503, "Close rejects the API key (HTTP 401)")
	for _, s := range []int{0, 400, 404, 429, 500, 503} {
		h.closeStatus(s)
	}
	wantProbe(t, "statuses that say nothing about the key", h.serveReady, 503, "HTTP 401")
	h.closeStatus(403)
	wantProbe(t, "key forbidden", h.serveReady, 503, "HTTP 403")
	h.closeStatus(201)
	wantProbe(t, "key accepted again", h.serveReady, 200, "ready")

	h.released(3, true)
	wantProbe(t, "partitions lost", h.serveReady, 503, "joining")
	h.assigned(1)
	wantProbe(t, "rejoined", h.serveReady, 200, "1 partition(s)")

	h.closeStatus(401)
	clk.advance(time.Minute)
	h.setStopping()
	got, body := probe(h.serveReady)
	for _, want := range []string{"stopping", "Kafka unreachable", "HTTP 401"} {
		if got != 503 || !strings.Contains(body, want) {
			t.Fatalf("every reason is listed: %d %q lacks %q", got, body, want)
		}
	}
}

// Liveness: a wedged poll loop (no turn for longer than the limit) fails
// /healthz, a turn makes it pass again; nothing readiness cares about
// (broker, key, stopping) touches it.
func TestLivenessFailsOnlyWhenThePollLoopStops(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := newHealth(clk.now, "leads", 30*time.Second, 2*time.Minute)
	wantProbe(t, "start", h.serveLive, 200, "ok")
	h.closeStatus(401)
	h.brokerAnswered(false)
	clk.advance(2 * time.Minute)
	wantProbe(t, "idle at the limit, broker and key failing", h.serveLive, 200, "ok: the poll loop turned 2m0s ago")
	clk.advance(time.Second)
	wantProbe(t, "wedged", h.serveLive, 503, "wedged: the poll loop has not turned for 2m1s (limit 2m0s)")
	h.polled()
	wantProbe(t, "turned again", h.serveLive, 200, "ok")
	h.setStopping()
	wantProbe(t, "stopping", h.serveLive, 200, "ok")
}

// The liveness limit outlasts the longest wait a healthy poll loop has (a
// rebalance callback waiting for in-flight work and the commit), and is
// never under two minutes.
func TestLivenessTimeoutOutlastsARebalance(t *testing.T) {
	cfg := config.Defaults()
	if got := livenessTimeout(cfg); got != 2*time.Minute {
		t.Fatalf("default: %s", got)
	}
	cfg.ShutdownTimeout = 2 * time.Minute
	if got := livenessTimeout(cfg); got <= cfg.ShutdownTimeout+10*time.Second+cfg.RequestTimeout {
		t.Fatalf("with a 2m shutdown timeout: %s", got)
	}
	if got := probeEvery(30*time.Second, HealthTuning{}); got != 5*time.Second {
		t.Fatalf("probe interval %s", got)
	}
	if got := probeEvery(3*time.Second, HealthTuning{}); got != time.Second {
		t.Fatalf("probe interval for 3s: %s", got)
	}
}
