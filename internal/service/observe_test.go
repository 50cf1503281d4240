package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// The periodic summary line carries the counters and the delivery rate of
// the last interval.
func TestSummaryLine(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	m := metrics.New()
	m.Consumed()
	m.Consumed()
	m.Outcome(pipeline.Delivered.String(), "")
	m.Outcome(pipeline.Dropped.String(), "no_email")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { summarize(ctx, zap.New(core), m, 50*time.Millisecond); close(done) }()
	kafkatest.Eventually(t, "a summary line", func() string {
		if n := logs.FilterMessage("summary").Len(); n == 0 {
			return "none yet"
		}
		return ""
	})
	cancel()
	<-done
	f := logs.FilterMessage("summary").All()[0].ContextMap()
	if f["consumed"] != int64(2) || f["delivered"] != int64(1) || fmt.Sprint(f["dropped"]) != "map[no_email:1]" {
		t.Fatalf("summary fields: %v", f)
	}
	if rate, ok := f["delivered_per_second"].(float64); !ok || rate <= 0 {
		t.Fatalf("delivered_per_second = %v", f["delivered_per_second"])
	}
}

// Go's profiles are served on the metrics address only when asked for.
func TestPProfOnlyWhenEnabled(t *testing.T) {
	for _, on := range []bool{false, true} {
		addr, stop, err := serveMetrics("127.0.0.1:0", metrics.New(), zap.NewNop(), nil, on)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			stop()
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		stop()
		served := resp.StatusCode == http.StatusOK && strings.Contains(string(body), "goroutine profile")
		if served != on {
			t.Fatalf("pprof %v: GET /debug/pprof/goroutine = %d, profile served %v", on, resp.StatusCode, served)
		}
	}
}
