package closeemu

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestConcurrentUse(t *testing.T) {
	s, ts := start(t, Config{APIKeys: []string{"api_a", "api_b"}, RateLimit: 1e6})
	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		key := []string{"api_a", "api_b"}[w%2]
		wg.Go(func() {
			for i := range perWorker {
				body := fmt.Sprintf(`{"name":"w%d-%d","contacts":[{"emails":[{"email":"w%d.%d@example.com"}]}]}`, w, i, w, i)
				r, err := doCtx(context.Background(), ts, "POST", "/api/v1/lead/", key, body)
				if err != nil || r.status != 200 {
					errs <- fmt.Errorf("worker %d request %d: %v %d", w, i, err, r.status)
					return
				}
			}
		})
	}
	// Readers and admin calls racing with the writers.
	wg.Go(func() {
		for range 50 {
			_ = s.Leads()
			_ = s.LeadBodies()
			_ = s.Stats()
			s.AddKey("api_c")
			s.RevokeKey("api_c")
			s.SetFaults(Faults{})
			_, _ = doCtx(context.Background(), ts, "GET", "/api/v1/lead/?_limit=5", "api_a", "")
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	leads, bodies := s.Leads(), s.LeadBodies()
	if len(leads) != workers*perWorker || len(bodies) != len(leads) || s.Stats().Created != len(leads) {
		t.Fatalf("%d leads, %d bodies, stats %+v", len(leads), len(bodies), s.Stats())
	}
	seen := map[string]bool{}
	for i, l := range leads {
		if seen[l.ID] {
			t.Fatalf("duplicate id %s", l.ID)
		}
		seen[l.ID] = true
		var req struct{ Name string }
		if err := json.Unmarshal(bodies[i], &req); err != nil || req.Name != l.Name {
			t.Fatalf("lead %d: body name %q does not match lead %q", i, req.Name, l.Name)
		}
	}
}

func TestServeShutsDownOnContextCancel(t *testing.T) {
	s := New(Config{APIKeys: []string{testKey}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, s, zap.New(core)) }()

	get := func() (int, error) {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/v1/me/", nil)
		req.SetBasicAuth(testKey, "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if st, err := get(); err != nil || st != 200 {
		t.Fatalf("plain request: %d %v", st, err)
	}

	// An effectively endless latency would hold a graceful shutdown for
	// ShutdownTimeout if request contexts did not end with the serve context.
	s.SetFaults(Faults{Latency: 1 << 62})
	reqDone := make(chan error, 1)
	go func() {
		_, err := get()
		reqDone <- err
	}()
	waitFor(t, "the request to reach the server", func() bool { return s.Stats().Requests == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after cancel, want nil", err)
	}
	if err := <-reqDone; err == nil {
		t.Fatal("the abandoned request must fail, not look like an empty 200")
	}
	if s.Stats().Cancelled != 1 {
		t.Fatalf("latency was not abandoned on shutdown: %+v", s.Stats())
	}
	reqLogs := logs.FilterMessage("request").All()
	if logs.FilterMessage("close emulator listening").Len() != 1 || len(reqLogs) != 2 ||
		reqLogs[0].ContextMap()["status"] != int64(200) || reqLogs[1].ContextMap()["status"] != int64(0) {
		t.Fatalf("logs: %v", logs.All())
	}
	// Scan the encoded lines, so a key inside an error or object field
	// counts too, not only string fields.
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, e := range logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), testKey) {
			t.Fatalf("the API key was logged: %s", buf.String())
		}
		buf.Free()
	}
}

func TestListenAndServeBadAddress(t *testing.T) {
	err := ListenAndServe(context.Background(), "256.0.0.1:bad", New(Config{}), nil)
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("err = %v", err)
	}
}

// A connection opened but never used (a client's pool dialling ahead) must
// not hold up shutdown: net/http alone would wait 5 s for it.
func TestServeShutdownIgnoresUnusedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, New(Config{}), nil) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server has accepted the connection once an HTTP exchange on
	// another connection completes (accepts are in order).
	resp, err := http.Get("http://" + ln.Addr().String() + "/api/v1/me/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	began := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("shutdown took %s with an unused connection open", took)
	}
}
