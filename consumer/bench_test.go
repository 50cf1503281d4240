package consumer_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/kafkatest"
	"github.com/closesink/closesink/pkg/metrics"
	"github.com/closesink/closesink/transform"
)

// A page view as most of a real topic looks: the worker must drop it fast.
const benchPageView = `{"type":"page","name":"Pricing","messageId":"a1b2c3d4-e5f6-7890-abcd-ef1234567890",` +
	`"anonymousId":"anon_a1b2c3d4","properties":{"path":"/pricing","url":"https://example.com/pricing"},` +
	`"context":{"page":{"url":"https://example.com/pricing"},"consent":{"analytics":true,"marketing":false}}}`

// BenchmarkWorkerDropPath measures records/second through the whole worker
// (group consumer, partition workers, transform, commits) for a topic of
// page views, against a baseline measured in the same run: a bare franz-go
// group consumer that polls and commits the same records and does nothing
// else. The ratio is the worker's overhead on the path most records take.
//
//	go test -run '^$' -bench WorkerDropPath -benchtime 20000x -count 5 ./consumer/
func BenchmarkWorkerDropPath(b *testing.B) {
	b.Run("bare_poll_commit", func(b *testing.B) {
		be, topic := benchTopic(b)
		group := kafkatest.UniqueName(b, "bare")
		b.ResetTimer()
		cl := be.NewClient(b, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		seen := 0
		for seen < b.N {
			fs := cl.PollRecords(context.Background(), 1000)
			recs := fs.Records()
			seen += len(recs)
			if err := cl.CommitRecords(context.Background(), recs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("closesink_worker", func(b *testing.B) {
		be, topic := benchTopic(b)
		tr, err := transform.New(transform.Config{})
		if err != nil {
			b.Fatal(err)
		}
		m := metrics.New()
		var pl *pipeline.Pipeline
		pl, err = pipeline.New(pipeline.Config{Transformer: tr, Deliverer: noDelivery{}, DeadLetter: noDLQ{}, Metrics: m})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		var processed int
		c, err := consumer.New(consumer.Config{Brokers: be.Brokers, Topic: topic, Group: kafkatest.UniqueName(b, "cs"),
			Logger: zap.NewNop(),
			Handler: consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (bool, error) {
				urgent, err := pl.Handle(ctx, r)
				if processed++; processed == b.N {
					close(done)
				}
				return urgent, err
			})})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		ctx, cancel := context.WithCancel(context.Background())
		runDone := make(chan error, 1)
		go func() { runDone <- c.Run(ctx) }()
		<-done
		b.StopTimer()
		cancel()
		if err := <-runDone; err != nil {
			b.Fatal(err)
		}
		if s := m.Snapshot(); s.Dropped["not_mapped"] != int64(b.N) {
			b.Fatalf("outcomes %+v, want %d not_mapped drops", s, b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// benchTopic is a one-partition topic holding b.N page views (one partition,
// so the worker's single goroutine and processed counter need no locking).
func benchTopic(b *testing.B) (*kafkatest.Backend, string) {
	b.StopTimer()
	be := kafkatest.Start(b)
	topic := be.CreateTopic(b, 1)
	cl := be.NewClient(b, kgo.ProducerLinger(0))
	recs := make([]*kgo.Record, b.N)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(benchPageView)}
	}
	kafkatest.Produce(b, cl, recs...)
	b.StartTimer()
	return be, topic
}

// The benchmark topic holds only page views: a delivery or a dead-letter
// write would show in the outcome counters checked above.
type noDelivery struct{}

func (noDelivery) Deliver(context.Context, int32, []byte) delivery.Outcome {
	return delivery.Outcome{Status: delivery.Permanent}
}

type noDLQ struct{}

func (noDLQ) Write(context.Context, *kgo.Record, deadletter.Failure) error { return nil }
