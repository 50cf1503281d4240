package service

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/results"
)

// ResultsTuning adjusts the results writer; the zero value keeps the
// defaults. Tests use it for short backoffs and injected produce failures.
type ResultsTuning struct {
	Backoff, MaxBackoff time.Duration
	// WrapProducer, if set, wraps the producer the writer uses.
	WrapProducer func(results.Producer) results.Producer
}

// newResultsWriter is the one place the results writer is built. It shares
// the dead-letter client (and its per-produce timeout).
func newResultsWriter(cl *kgo.Client, topic string, m *metrics.Metrics, log *zap.Logger, t ResultsTuning) (*results.Writer, error) {
	return results.NewWriter(results.Config{
		Topic: topic, Producer: wrapProducer[results.Producer](cl, t.WrapProducer), Backoff: t.Backoff, MaxBackoff: t.MaxBackoff,
		OnError: func(attempt int, err error) {
			m.ResultsError()
			log.Error("results write failed; the record waits uncommitted and the write is retried",
				zap.String("topic", topic), zap.Int("attempt", attempt), zap.Error(err))
		},
	})
}
