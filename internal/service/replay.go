package service

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/pipeline"
)

// ReplayOptions are what a replay adds to the service's configuration.
type ReplayOptions struct {
	Group   string        // the replay's consumer group (required)
	Filter  replay.Filter // which records to replay
	Limit   int           // stop after this many selected records (0: no limit)
	ToTopic string        // republish to this topic instead of calling Close
	// DryRun, if set, makes the replay a preview: it is called for every
	// selected record with what replaying it would do, and nothing is sent,
	// written or committed.
	DryRun  func(rec *kgo.Record, info deadletter.Info, what string)
	ShowPII bool // the preview shows emails, phones and names in full

	Metrics  *metrics.Metrics // nil: the replay makes its own
	Delivery func(*delivery.Config)
	DLQ      DLQTuning
	Tracing  trace.TracerProvider // as Options.Tracing
}

// Replay replays the dead-letter topic once (see deadletter/replay): it
// checks the topics and, when it will call Close, the API key, then runs
// the DLQ's records through the same pipeline as Run, with a dead-letter
// writer back to the same DLQ. Setup errors match ErrSetup or
// config.ErrInvalid.
func Replay(ctx context.Context, cfg config.Config, o ReplayOptions, log *zap.Logger) (replay.Summary, error) {
	m := o.Metrics
	if m == nil {
		m = metrics.New()
	}
	tc, err := newTracing(o.Tracing, log)
	if err != nil {
		return replay.Summary{}, err
	}
	defer tc.stop(log)
	opts, err := KafkaOpts(cfg, log)
	if err != nil {
		return replay.Summary{}, err
	}
	topics := []string{cfg.DLQTopic}
	if o.ToTopic != "" {
		topics = append(topics, o.ToTopic)
	}
	cl, _, err := Connect(ctx, append(opts, dlqProduceTimeout), TopicCheckTimeout, topics...)
	if err != nil {
		return replay.Summary{}, err
	}
	defer cl.Close()
	rc := replay.Config{
		ClientOpts: append(slices.Clip(opts), tc.kafkaOpts(o.Group)...), Admin: kadm.NewClient(cl), Producer: cl,
		Topic: cfg.DLQTopic, Group: o.Group, Filter: o.Filter, Limit: o.Limit,
		ToTopic: o.ToTopic, Logger: log, StopTimeout: cfg.ShutdownTimeout,
	}
	switch {
	case o.DryRun != nil:
		tr, err := newTransformer(cfg)
		if err != nil {
			return replay.Summary{}, err
		}
		pv := replay.Preview{Transformer: tr, MaxRecordBytes: cfg.MaxRecordBytes, ShowPII: o.ShowPII}
		rc.DryRun = func(rec *kgo.Record, info deadletter.Info) {
			what := pv.Describe(rec.Value)
			if o.ToTopic != "" {
				what = "republish to " + o.ToTopic
			}
			o.DryRun(rec, info, what)
		}
	case o.ToTopic == "":
		tr, err := newTransformer(cfg)
		if err != nil {
			return replay.Summary{}, err
		}
		dc, err := newDeliveryClient(cfg, m, tc.delivery(o.Delivery))
		if err != nil {
			return replay.Summary{}, err
		}
		dc.SetPartitions(1)
		// Replaying with a key Close still rejects would only dead-letter
		// every record again: refuse, as Run does.
		if err := checkKey(ctx, dc, log, "set the new key in "+config.EnvAPIKey+" before replaying"); err != nil {
			return replay.Summary{}, err
		}
		dlq, err := newDLQWriter(cl, cfg.DLQTopic, m, log, tc.dlq(o.DLQ))
		if err != nil {
			return replay.Summary{}, err
		}
		pl, err := newPipeline(cfg, tr, m, log, pipelineParts{
			// A replay is sequential: one Sender holds the whole budget.
			deliverer: pipeline.OneSender(dc.Sender(0)), dlq: dlq,
			// Copies of one event (a producer's repeat dead-lettered twice)
			// may sit on different DLQ partitions.
			dedupeWindow: cfg.DedupeWindow, dedupeShared: true,
		})
		if err != nil {
			return replay.Summary{}, err
		}
		rc.Processor = tc.replayProcessor(pl, o.Group, cfg.DLQTopic)
	}
	sum, err := replay.Run(ctx, rc)
	log.Info("replay finished", append(sum.Fields(), zap.Error(err))...)
	if errors.Is(err, replay.ErrInvalidConfig) {
		err = setup(err)
	}
	return sum, err
}
