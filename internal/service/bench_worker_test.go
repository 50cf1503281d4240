package service_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"

	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// A page view as most of a real topic looks: the worker must drop it fast.
const benchPageView = `{"type":"page","name":"Pricing","messageId":"a1b2c3d4-e5f6-7890-abcd-ef1234567890",` +
	`"anonymousId":"anon_a1b2c3d4","properties":{"path":"/pricing","url":"https://example.com/pricing"},` +
	`"context":{"page":{"url":"https://example.com/pricing"},"consent":{"analytics":true,"marketing":false}}}`

// BenchmarkWorkerDropPath measures records/second through the whole worker
// as `closesink run` builds it (service.Run: group consumer, partition
// workers, transform, pipeline, commits) for a topic of page views, against
// a baseline measured in the same run: a bare franz-go group consumer that
// polls and commits the same records and does nothing else. The ratio is
// the worker's overhead on the path most records take. Both include joining
// the group; the worker also its start-up checks (topics, GET /me/ on the
// emulator).
//
//	go test -run '^$' -bench WorkerDropPath -benchtime 20000x -count 5 ./internal/service/
func BenchmarkWorkerDropPath(b *testing.B) {
	b.Run("bare_poll_commit", func(b *testing.B) {
		h := benchWorld(b)
		b.ResetTimer()
		// Timed like the worker below: from before the client exists (the
		// group join is in both) to the last record, under the same deadline.
		ctx, cancel := context.WithTimeout(context.Background(), benchDeadline)
		defer cancel()
		cl := h.b.NewClient(b, kgo.ConsumerGroup(kafkatest.UniqueName(b, "bare")), kgo.ConsumeTopics(h.topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		seen := 0
		for seen < b.N {
			fs := cl.PollRecords(ctx, 1000)
			if ctx.Err() != nil {
				b.Fatalf("the bare consumer polled %d of %d records", seen, b.N)
			}
			recs := fs.Records()
			seen += len(recs)
			if err := cl.CommitRecords(ctx, recs...); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		cl.Close()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("closesink_worker", func(b *testing.B) {
		m := metrics.New()
		timeWorker(b, benchWorld(b), service.Options{Metrics: m})
		if s := m.Snapshot(); s.Dropped["no_mapped_name"] != int64(b.N) || s.Delivered != 0 || len(s.DeadLettered) != 0 {
			b.Fatalf("outcomes %+v, want %d no_mapped_name drops", s, b.N)
		}
	})
	// With tracing on and every record sampled (spans batched to an
	// exporter that drops them): the cost of kotel's receive span and the
	// process span per record. With tracing off (above) nothing is wired.
	b.Run("closesink_worker_traced", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		timeWorker(b, benchWorld(b), service.Options{Tracing: tp})
	})
}

// timeWorker times service.Run from its start to the b.N-th outcome.
func timeWorker(b *testing.B, h *harness, opts service.Options) {
	done := make(chan struct{})
	var processed atomic.Int64
	opts.OnOutcome = func(*kgo.Record, pipeline.Outcome) {
		if processed.Add(1) == int64(b.N) {
			close(done)
		}
	}
	b.ResetTimer()
	w := h.start(memberOpts{name: "cs", logger: zap.NewNop(), opts: opts})
	select {
	case <-done:
	case <-time.After(benchDeadline):
		b.Fatalf("the worker processed %d of %d records", processed.Load(), b.N)
	}
	b.StopTimer()
	w.stop(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// benchDeadline bounds either side of BenchmarkWorkerDropPath.
const benchDeadline = 10 * time.Minute

// benchWorld is a world whose one-partition source topic holds b.N page
// views; a delivery or a dead-letter write would show in the outcome
// counters checked above.
func benchWorld(b *testing.B) *harness {
	h := newHarness(b, 1, 1, closeemu.Config{})
	vals := make([]string, b.N)
	for i := range vals {
		vals[i] = benchPageView
	}
	h.produce(0, vals...)
	return h
}
