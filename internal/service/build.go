package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/internal/version"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/transform"
)

// The building blocks below are each the only place their part is made;
// Run and Replay call them in a straight line.

func newTransformer(cfg config.Config) (*transform.Transformer, error) {
	t, err := transform.New(transform.Config{
		Events:          cfg.Mapping.Events,
		ConsentCategory: cfg.ConsentCategory,
		PhoneRegion:     cfg.PhoneRegion,
		LeadStatusID:    cfg.LeadStatusID,
		CustomFields:    cfg.Mapping.CustomFields,
		Identify:        cfg.Delivery.Mode == config.ModeUpsert && cfg.Delivery.UpdateOnIdentify,
		StrictJSON:      cfg.Mapping.StrictJSON,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return t, nil
}

func newDeliveryClient(cfg config.Config, m *metrics.Metrics, tune func(*delivery.Config)) (*delivery.Client, error) {
	dcfg := delivery.Config{
		BaseURL:          cfg.CloseURL,
		APIKey:           delivery.Secret(cfg.APIKey),
		Version:          version.Version,
		RequestTimeout:   cfg.RequestTimeout,
		Rate:             cfg.Rate,
		Burst:            cfg.Burst,
		MaxRetryDuration: cfg.MaxRetryDuration,
		OnAttempt:        func(a delivery.Attempt) { m.Request(a.HTTPStatus) },
	}
	if tune != nil {
		tune(&dcfg)
	}
	c, err := delivery.New(dcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return c, nil
}

// checkKey refuses a key Close rejects: it would dead-letter every lead with
// 401. Close being unreachable says nothing about the key, so that only
// warns (delivery retries).
func checkKey(ctx context.Context, dc *delivery.Client, log *zap.Logger, hint string) error {
	err := dc.CheckKey(ctx)
	switch {
	case errors.Is(err, delivery.ErrKeyRejected):
		return setup(fmt.Errorf("%w; %s", err, hint))
	case err != nil:
		log.Warn("could not check the Close API key; starting anyway (delivery retries)", zap.Error(err))
	}
	return nil
}

// dlqProduceTimeout bounds one dead-letter produce: without it a write to a
// broker that never answers could hold a stop past its timeout. The writer
// retries a timed-out write, so this only makes it give way to ctx.
var dlqProduceTimeout = kgo.RecordDeliveryTimeout(10 * time.Second)

// DLQTuning adjusts the dead-letter writer; the zero value keeps the
// defaults. Tests use it for short backoffs and injected produce failures.
type DLQTuning struct {
	Backoff, MaxBackoff time.Duration
	// WrapProducer, if set, wraps the producer the writer uses.
	WrapProducer func(deadletter.Producer) deadletter.Producer
}

func newDLQWriter(cl *kgo.Client, topic string, m *metrics.Metrics, log *zap.Logger, t DLQTuning) (*deadletter.Writer, error) {
	return deadletter.NewWriter(deadletter.WriterConfig{
		Topic: topic, Producer: wrapProducer[deadletter.Producer](cl, t.WrapProducer), Backoff: t.Backoff, MaxBackoff: t.MaxBackoff,
		OnError: func(attempt int, err error) {
			m.DLQError()
			log.Error("dead-letter write failed; the record waits and is retried", zap.Int("attempt", attempt), zap.Error(err))
		},
	})
}

// wrapProducer is cl as a writer's producer, wrapped when a test asked for
// it (DLQTuning.WrapProducer, ResultsTuning.WrapProducer).
func wrapProducer[P any](cl P, wrap func(P) P) P {
	if wrap != nil {
		return wrap(cl)
	}
	return cl
}

// pipelineParts are what differs between run's pipeline and replay's.
type pipelineParts struct {
	deliverer    pipeline.Senders
	dlq          pipeline.DeadLetterer
	results      pipeline.Results // nil: no results topic
	dedupeWindow int
	// dedupeShared: one messageId window for every partition (a replay).
	dedupeShared bool
	onOutcome    func(*kgo.Record, pipeline.Outcome)
}

func newPipeline(cfg config.Config, tr *transform.Transformer, m *metrics.Metrics, log *zap.Logger, p pipelineParts) (*pipeline.Pipeline, error) {
	var upsert *pipeline.UpsertConfig
	if cfg.Delivery.Mode == config.ModeUpsert {
		upsert = &pipeline.UpsertConfig{API: p.deliverer, SkipMatched: cfg.Delivery.OnMatch == config.OnMatchSkip,
			Memory: cfg.Delivery.Memory, SharedMemory: p.dedupeShared}
	}
	return pipeline.New(pipeline.Config{
		Transformer: tr, Deliverer: p.deliverer, DeadLetter: p.dlq, Upsert: upsert,
		Metrics: m, Logger: log, LogPII: cfg.LogPII, MaxRecordBytes: cfg.MaxRecordBytes,
		DedupeWindow: p.dedupeWindow, DedupeAcrossPartitions: p.dedupeShared, OnOutcome: p.onOutcome,
		Results: p.results,
	})
}
