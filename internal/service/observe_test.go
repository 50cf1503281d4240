package service

import (
	"context"
	"fmt"
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
