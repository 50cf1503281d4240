// Package service is the one place that builds closesink from its
// configuration: the Kafka clients, the transform, the Close delivery client,
// the dead-letter writer, the pipeline, the metrics and the consumer group,
// wired in a straight line for `closesink run` (Run), `closesink replay`
// (Replay) and the demo. The command line, the demo and the system tests
// all call it, so there is one wiring to read and to test.
package service

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/pipeline"
)

// Options let an embedding caller (the demo, the system tests) observe and
// tune a running service; the zero value is what `closesink run` uses.
type Options struct {
	Metrics    *metrics.Metrics // nil: the service makes its own
	OnOutcome  func(rec *kgo.Record, out pipeline.Outcome)
	ClientOpts []kgo.Opt // appended to every Kafka client's options
	// Delivery adjusts the delivery client's config before it is built
	// (tests: short backoffs and rate-limit waits).
	Delivery func(*delivery.Config)
	DLQ      DLQTuning
	// OnCommit and OnRebalance are told what the consumer group does,
	// besides the metrics (tests: a log of every commit).
	OnCommit    func(partition int32, next int64)
	OnRebalance func(event string, partitions []int32)
	// Consumer adjusts the consumer group's config before it is built
	// (tests: small queue bounds and commit batches).
	Consumer func(*consumer.Config)
	// Results tunes the results-topic writer (--results-topic).
	Results ResultsTuning
	// Health tunes the readiness probe (tests: a fast probe, a clock).
	Health HealthTuning
	// OnMetricsServing, if set, is told the address /metrics, /healthz
	// and /readyz are served on (tests: --metrics-addr 127.0.0.1:0).
	OnMetricsServing func(addr string)
	// Tracing, if set, traces with this provider (tests); nil: from the
	// OTEL_* environment, off without an OTLP endpoint (tracing.go).
	Tracing trace.TracerProvider
}

// Run runs the worker until ctx is done: it checks the topics and the Close
// API key, joins the consumer group and delivers every record to its final
// outcome. Errors matching ErrSetup or config.ErrInvalid mean the setup
// must change (closesink exits 2 on them).
func Run(ctx context.Context, cfg config.Config, log *zap.Logger, o Options) error {
	m := o.Metrics
	if m == nil {
		m = metrics.New()
	}
	tc, err := newTracing(o.Tracing, log)
	if err != nil {
		return err
	}
	defer tc.stop(log)
	tr, err := newTransformer(cfg)
	if err != nil {
		return err
	}
	hs := newHealth(o.Health.Now, cfg.Topic, notReadyAfter(cfg), livenessTimeout(cfg))
	dc, err := newDeliveryClient(cfg, m, tc.delivery(func(c *delivery.Config) {
		if o.Delivery != nil {
			o.Delivery(c)
		}
		prev := c.OnAttempt
		c.OnAttempt = func(a delivery.Attempt) {
			if prev != nil {
				prev(a)
			}
			hs.closeStatus(a.HTTPStatus) // a 401/403 turns readiness off, a 2xx on
		}
	}))
	if err != nil {
		return err
	}
	opts, err := KafkaOpts(cfg, log)
	if err != nil {
		return err
	}
	opts = append(opts, o.ClientOpts...)

	// This client checks the topics before the member joins the group (a
	// typo fails fast with exit 2 instead of an idle member), then writes
	// the dead letters and re-reads the partition count. The group has a
	// client of its own, so nothing here waits for a value set later.
	topics := []string{cfg.Topic, cfg.DLQTopic}
	if cfg.ResultsTopic != "" {
		topics = append(topics, cfg.ResultsTopic)
	}
	cl, counts, err := Connect(ctx, append(opts, dlqProduceTimeout,
		kgo.WithHooks(kprom.NewMetrics("closesink_kafka_producer", kprom.Registry(m.Registry)))),
		TopicCheckTimeout, topics...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := checkKey(ctx, dc, log, "create a key in Close under Settings > Developer > API Keys and set "+config.EnvAPIKey); err != nil {
		return err
	}
	sourcePartitions := counts[cfg.Topic]
	dc.SetPartitions(sourcePartitions)
	m.SourcePartitions(sourcePartitions)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	log.Info("closesink starting", zap.Any("config", cfg.Redacted()), zap.Int("source_partitions", sourcePartitions),
		zap.Float64("group_rate", cfg.Rate))

	dlq, err := newDLQWriter(cl, cfg.DLQTopic, m, log, tc.dlq(o.DLQ))
	if err != nil {
		return err
	}
	parts := pipelineParts{deliverer: pipeline.DelivererFor(dc), dlq: dlq, dedupeWindow: cfg.DedupeWindow, onOutcome: o.OnOutcome}
	if cfg.ResultsTopic != "" {
		rw, err := newResultsWriter(cl, cfg.ResultsTopic, m, log, o.Results)
		if err != nil {
			return err
		}
		parts.results = rw
	}
	pl, err := newPipeline(cfg, tr, m, log, parts)
	if err != nil {
		return err
	}
	var owned atomic.Int32 // partitions this member owns now
	ccfg := consumer.Config{
		Brokers:             cfg.Brokers,
		Topic:               cfg.Topic,
		Group:               cfg.Group,
		InstanceID:          cfg.InstanceID,
		Handler:             pl,
		Logger:              log,
		StopTimeout:         cfg.ShutdownTimeout,
		OnStopTimeout:       dc.Abort,
		MemberBufferedBytes: cfg.BufferBytes,
		FetchMaxBytes:       cfg.FetchMaxBytes,
		ClientOpts: append(opts, kgo.SessionTimeout(cfg.SessionTimeout),
			kgo.WithHooks(kprom.NewMetrics("closesink_kafka", kprom.Registry(m.Registry)))),
		OnCommit: func(p int32, next int64) {
			m.Commit()
			if o.OnCommit != nil {
				o.OnCommit(p, next)
			}
		},
		OnPoll:       hs.polled,
		OnAssignment: func(parts []int32) { hs.assigned(len(parts)) },
		OnRebalance: func(event string, parts []int32) {
			if o.OnRebalance != nil {
				o.OnRebalance(event, parts)
			}
			if event != "assigned" {
				hs.released(len(parts), event == "lost")
				m.Assigned(-len(parts))
				dc.SetAssigned(int(owned.Add(-int32(len(parts)))))
				pl.ForgetPartitions(parts)
				return
			}
			m.Assigned(len(parts))
			// This member's share of the budget follows what it owns.
			dc.SetAssigned(int(owned.Add(int32(len(parts)))))
			// Partitions added to the source topic cause a rebalance; the
			// budget split must follow, or the group would exceed --rate.
			go refreshPartitions(ctx, cl, cfg.Topic, dc, m, log)
		},
	}
	tc.consume(&ccfg, pl, cfg.DLQTopic)
	if o.Consumer != nil {
		o.Consumer(&ccfg)
	}
	cons, err := consumer.New(ccfg)
	if err != nil {
		return setup(err)
	}
	if cfg.MetricsAddr != "" {
		addr, stopMetrics, err := serveMetrics(cfg.MetricsAddr, m, log, hs, cfg.PProf)
		if err != nil {
			return setup(err)
		}
		defer stopMetrics()
		if o.OnMetricsServing != nil {
			o.OnMetricsServing(addr)
		}
	}
	stopHealth := watchHealth(ctx, hs, cl, dc, cfg, log, o.Health)
	defer stopHealth()
	go summarize(ctx, log, m, time.Minute)
	err = cons.Run(ctx)
	s := m.Snapshot()
	log.Info("closesink stopped", zap.Int64("consumed", s.Consumed), zap.Int64("delivered", s.Delivered),
		zap.Any("dropped", s.Dropped), zap.Any("dead_lettered", s.DeadLettered))
	return err
}

// refreshPartitions re-reads the source topic's partition count and splits
// the rate budget by it. A failure keeps the previous count (logged).
func refreshPartitions(ctx context.Context, cl *kgo.Client, topic string, dc *delivery.Client, m *metrics.Metrics, log *zap.Logger) {
	counts, err := CheckTopics(ctx, cl, 10*time.Second, topic)
	if err != nil {
		log.Warn("could not re-read the source topic's partition count; keeping the previous rate split", zap.Error(err))
		return
	}
	dc.SetPartitions(counts[topic])
	m.SourcePartitions(counts[topic])
}
