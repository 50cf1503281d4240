package delivery

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// promptly is how soon (wall time) a cancelled wait must return. The waits
// these tests cut short are an hour (backoff) or a minute (429 pause), so a
// bound this far below them still proves the cancel ended the wait, while a
// loaded 2-core CI machine under -race (measured: 1–40 ms, with spikes far
// above 100 ms when other packages' tests compete) cannot fail it.
const promptly = 5 * time.Second

func TestCancelDuringBackoffWaitReturnsAtOnce(t *testing.T) {
	for _, clockKind := range []string{"fake", "real"} {
		t.Run(clockKind, func(t *testing.T) {
			var clock *fakeClock
			var cl Clock = RealClock{}
			if clockKind == "fake" {
				clock = newManualClock()
				cl = clock
			}
			srv := newScriptServer(t, nil, reply{status: 503, body: `{"error": "maintenance"}`})
			var log attemptLog
			c := newTestClient(t, srv.URL, cl, func(c *Config) {
				c.BackoffBase, c.BackoffMax, c.MaxRetryDuration = time.Hour, time.Hour, 0
				c.OnAttempt = log.add
			})
			ctx, cancel := context.WithCancel(context.Background())
			ch := deliverAsync(ctx, c.Sender(0))
			if clock != nil {
				if d := clock.awaitSleep(t); d < 48*time.Minute {
					t.Fatalf("sleeping %v, want the ~1h backoff", d)
				}
			} else {
				deadline := time.Now().Add(30 * time.Second)
				for len(log.all()) == 0 {
					if time.Now().After(deadline) {
						t.Fatal("the first attempt was never reported")
					}
					runtimeYield()
				}
			}
			start := time.Now()
			cancel()
			o := awaitOutcome(t, ch, 2*promptly)
			if el := time.Since(start); el > promptly {
				t.Errorf("returned %v after cancel", el)
			}
			if o.Status != Interrupted || o.Final() || o.Attempts != 1 || o.HTTPStatus != 503 ||
				!strings.Contains(o.Message, "context canceled") || !strings.Contains(o.Message, "maintenance") {
				t.Errorf("outcome %+v", o)
			}
			if srv.count.Load() != 1 {
				t.Errorf("%d requests", srv.count.Load())
			}
		})
	}
}

// runtimeYield lets other goroutines run while polling a condition.
func runtimeYield() { time.Sleep(time.Millisecond) }

func TestCancelDuring429PauseReturnsAtOnce(t *testing.T) {
	clock := newManualClock()
	srv := newScriptServer(t, clock, reply{status: 429, header: map[string]string{"RateLimit": "limit=10, remaining=0, reset=60"}}, ok200)
	c := newTestClient(t, srv.URL, clock, nil)

	ctx0, cancel0 := context.WithCancel(context.Background())
	ch0 := deliverAsync(ctx0, c.Sender(0))
	if d := clock.awaitSleep(t); d != time.Minute {
		t.Fatalf("partition 0 sleeps %v, want the 60s reset", d)
	}
	// Partition 1 starts during the pause: it must wait without a request.
	ctx1, cancel1 := context.WithCancel(context.Background())
	ch1 := deliverAsync(ctx1, c.Sender(1))
	if d := clock.awaitSleep(t); d != time.Minute {
		t.Fatalf("partition 1 sleeps %v, want the shared 60s pause", d)
	}
	if n := srv.count.Load(); n != 1 {
		t.Fatalf("%d requests during the pause", n)
	}
	for i, cancel := range []context.CancelFunc{cancel1, cancel0} {
		ch := []<-chan Outcome{ch1, ch0}[i]
		start := time.Now()
		cancel()
		o := awaitOutcome(t, ch, 2*promptly)
		if el := time.Since(start); el > promptly {
			t.Errorf("returned %v after cancel", el)
		}
		if o.Status != Interrupted {
			t.Errorf("outcome %+v", o)
		}
	}
	if n := srv.count.Load(); n != 1 {
		t.Errorf("%d requests, want only the first", n)
	}
}

func TestCancelledBeforeStartSendsNothing(t *testing.T) {
	srv := newScriptServer(t, nil, ok200)
	c := newTestClient(t, srv.URL, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := c.Sender(0).Deliver(ctx, testLead())
	if o.Status != Interrupted || o.Attempts != 0 || srv.count.Load() != 0 {
		t.Errorf("outcome %+v, %d requests", o, srv.count.Load())
	}
}

// blockingServer holds every request until released and announces arrivals.
func blockingServer(t *testing.T, status int, body string) (srv *httptest.Server, arrived <-chan struct{}, release func(), hits *atomic.Int64) {
	t.Helper()
	arr := make(chan struct{}, 16)
	rel := make(chan struct{})
	var n atomic.Int64
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		arr <- struct{}{}
		select {
		case <-rel:
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	var once atomic.Bool
	release = func() {
		if once.CompareAndSwap(false, true) {
			close(rel)
		}
	}
	t.Cleanup(srv.Close)
	t.Cleanup(release) // runs before srv.Close
	return srv, arr, release, &n
}

func awaitArrival(t *testing.T, arrived <-chan struct{}) {
	t.Helper()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second): // a deadline for a failure, not a wait
		t.Fatal("request never reached the server")
	}
}

func TestInFlightRequestSurvivesCancel(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		want     Status
		wantLead string
	}{
		{"created lead is reported", 200, createdBody, Delivered, "lead_abc"},
		{"permanent answer is reported", 400, `{"errors": [], "field-errors": {"name": "required"}}`, Permanent, ""},
		{"retryable answer stops without a retry", 503, "", Interrupted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, arrived, release, hits := blockingServer(t, tt.status, tt.body)
			c := newTestClient(t, srv.URL, newAutoClock(), nil)
			ctx, cancel := context.WithCancel(context.Background())
			ch := deliverAsync(ctx, c.Sender(0))
			awaitArrival(t, arrived)
			cancel()
			select {
			case o := <-ch:
				t.Fatalf("Deliver returned while its request was on the wire: %+v", o)
			case <-time.After(20 * time.Millisecond):
			}
			release()
			o := awaitOutcome(t, ch, 2*time.Second)
			if o.Status != tt.want || o.HTTPStatus != tt.status || o.LeadID != tt.wantLead || o.Attempts != 1 {
				t.Errorf("outcome %+v", o)
			}
			if hits.Load() != 1 {
				t.Errorf("%d requests", hits.Load())
			}
		})
	}
}

func TestAbortKillsInFlightRequest(t *testing.T) {
	srv, arrived, _, _ := blockingServer(t, 200, createdBody)
	c := newTestClient(t, srv.URL, newAutoClock(), nil)
	ch := deliverAsync(context.Background(), c.Sender(0))
	awaitArrival(t, arrived)
	start := time.Now()
	c.Abort()
	o := awaitOutcome(t, ch, 2*promptly)
	if el := time.Since(start); el > promptly {
		t.Errorf("returned %v after Abort", el)
	}
	if o.Status != Interrupted || o.Attempts != 1 || !strings.Contains(o.Message, "aborted") {
		t.Errorf("outcome %+v", o)
	}
	if o := c.Sender(1).Deliver(context.Background(), testLead()); o.Status != Interrupted || o.Attempts != 0 {
		t.Errorf("after Abort: %+v", o)
	}
	c.Abort() // idempotent
}

func TestAbortEndsWaits(t *testing.T) {
	clock := newManualClock()
	srv := newScriptServer(t, nil, reply{status: 503})
	c := newTestClient(t, srv.URL, clock, nil)
	ch := deliverAsync(context.Background(), c.Sender(0))
	clock.awaitSleep(t)
	start := time.Now()
	c.Abort()
	if o := awaitOutcome(t, ch, 2*promptly); o.Status != Interrupted || time.Since(start) > promptly {
		t.Errorf("outcome %+v after %v", o, time.Since(start))
	}
}
