package delivery

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTransportErrorsAreRetried(t *testing.T) {
	// A listener that is closed at once gives "connection refused".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	clock := newAutoClock()
	c := newTestClient(t, "http://"+addr, clock, func(c *Config) { c.MaxRetryDuration = 5 * time.Second })
	o := c.Sender(0).Deliver(context.Background(), testLead())
	if o.Status != RetriesExhausted || o.HTTPStatus != 0 || o.Attempts < 2 || !strings.Contains(o.Message, "refused") {
		t.Fatalf("outcome %+v", o)
	}
}

func TestDroppedConnectionThenSuccess(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		_, _ = io.WriteString(w, createdBody)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, newAutoClock(), nil)
	if o := c.Sender(0).Deliver(context.Background(), testLead()); o.Status != Delivered || o.Attempts != 2 {
		t.Fatalf("outcome %+v", o)
	}
}

func TestRequestTimeoutIsRetried(t *testing.T) {
	var n atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		if n.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = io.WriteString(w, createdBody)
	}))
	defer srv.Close()
	defer close(release) // runs before srv.Close
	var log attemptLog
	c := newTestClient(t, srv.URL, newAutoClock(), func(c *Config) {
		c.RequestTimeout = 50 * time.Millisecond
		c.OnAttempt = log.add
	})
	o := c.Sender(0).Deliver(context.Background(), testLead())
	if o.Status != Delivered || o.Attempts != 2 {
		t.Fatalf("outcome %+v", o)
	}
	if first := log.all()[0]; first.Class != ClassRetry || !strings.Contains(first.Message, "deadline exceeded") {
		t.Errorf("first attempt %+v", first)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var gets atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
			_, _ = io.WriteString(w, `{"data": [], "has_more": false}`)
			return
		}
		http.Redirect(w, r, "/api/v1/lead/?moved", http.StatusFound)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, nil, nil)
	o := c.Sender(0).Deliver(context.Background(), testLead())
	if o.Status != Permanent || o.HTTPStatus != 302 || gets.Load() != 0 {
		t.Fatalf("outcome %+v, GETs %d", o, gets.Load())
	}
}

// Bodies are drained and closed so one keep-alive connection carries every
// request, whatever the answers were.
func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int64
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch n.Add(1) % 3 {
		case 0:
			w.WriteHeader(503)
			_, _ = io.WriteString(w, strings.Repeat("x", 40<<10)) // error body bigger than what is parsed
		case 1:
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"errors": [], "field-errors": {"name": "required"}}`)
		default:
			_, _ = io.WriteString(w, createdBody)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newTestClient(t, srv.URL, newAutoClock(), nil)
	for range 15 {
		c.Sender(0).Deliver(context.Background(), testLead())
	}
	if n.Load() < 15 || conns.Load() != 1 {
		t.Errorf("%d requests used %d connections, want 1", n.Load(), conns.Load())
	}
}
