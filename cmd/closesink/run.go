package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.uber.org/zap"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/config"
	"github.com/closesink/closesink/pkg/metrics"
)

const runLong = `Run the worker: consume the source topic as a member of the consumer group,
create a Close lead for every identified, consenting lead event, dead-letter
what Close rejects, and commit each offset only after its record's outcome is
final. Start as many replicas as the topic has partitions; the rate budget
(--rate/--burst) is for the whole group.

Settings come from, lowest to highest precedence: defaults, the YAML file
(--config), environment variables, flags. Every flag --x-y has the
environment variable CLOSESINK_X_Y. The Close API key is read from the
CLOSE_API_KEY environment variable or --api-key-file, never from a flag.

Signals: SIGTERM or SIGINT stops fetching, lets requests already sent to Close
finish (up to --shutdown-timeout), commits, leaves the group and exits 0.
A second signal exits at once with code 1.

At start it checks that both topics exist and that Close accepts the API key
(GET /api/v1/me/); a rejected key (401/403) stops it with exit code 2, while
Close being unreachable only logs a warning.

Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad configuration, a
missing topic or a rejected API key.`

func runCommand() *cobra.Command {
	defaults := config.Defaults()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Consume the topic and deliver leads to Close (the service)",
		Long:  runLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := signalContext(log, nil)
			defer stop()
			return runService(ctx, cfg, log, serviceHooks{})
		},
	}
	config.Register(cmd.Flags(), &defaults)
	return cmd
}

// signalContext is cancelled by the first SIGTERM/SIGINT; the second calls
// abort (if any) and exits the process with code 1.
func signalContext(log *zap.Logger, abort func()) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		log.Info("signal received: stopping gracefully (send it again to exit at once)", zap.String("signal", s.String()))
		cancel()
		if _, ok := <-sigs; ok {
			log.Warn("second signal: exiting now without waiting for in-flight work")
			if abort != nil {
				abort()
			}
			_ = log.Sync()
			os.Exit(exitFailure)
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(sigs); cancel() }
}

// serviceHooks let an embedding caller (the demo) observe the running
// service; the zero value observes nothing.
type serviceHooks struct {
	metrics    *metrics.Metrics // nil: the service makes its own
	onOutcome  func(rec *kgo.Record, out pipeline.Outcome)
	clientOpts []kgo.Opt // appended to the Kafka options (tests: faster metadata refresh)
}

// runService wires config into the pipeline and runs until ctx is done.
func runService(ctx context.Context, cfg config.Config, log *zap.Logger, hooks serviceHooks) error {
	m := hooks.metrics
	if m == nil {
		m = metrics.New()
	}
	tr, err := newTransformer(cfg)
	if err != nil {
		return err
	}
	dc, err := newDeliveryClient(cfg, m)
	if err != nil {
		return err
	}
	opts, err := kafkaOpts(cfg, log)
	if err != nil {
		return err
	}
	kp := kprom.NewMetrics("closesink_kafka", kprom.Registry(m.Registry))
	opts = append(opts, kgo.WithHooks(kp))
	opts = append(opts, hooks.clientOpts...)

	// One short-lived client checks the topics before joining the group, so
	// a typo fails fast with exit 2 instead of an idle member.
	probe, counts, err := connect(ctx, opts, topicCheckTimeout, cfg.Topic, cfg.DLQTopic)
	if err != nil {
		return err
	}
	probe.Close()
	// A wrong or revoked key would dead-letter every lead with 401: refuse
	// to start instead. Close being unreachable says nothing about the key.
	if err := dc.CheckKey(ctx); errors.Is(err, delivery.ErrKeyRejected) {
		return withCode(exitConfig, fmt.Errorf("%w; create a key in Close under Settings > Developer > API Keys and set %s", err, config.EnvAPIKey))
	} else if err != nil {
		log.Warn("could not check the Close API key; starting anyway (delivery retries)", zap.Error(err))
	}
	dc.SetPartitions(counts[cfg.Topic])
	m.SourcePartitions(counts[cfg.Topic])
	log.Info("closesink starting", zap.Any("config", cfg.Redacted()), zap.Int("source_partitions", counts[cfg.Topic]),
		zap.Float64("rate_per_partition", cfg.Rate/float64(counts[cfg.Topic])))

	var (
		pl   *pipeline.Pipeline
		cons *consumer.Consumer
	)
	cons, err = consumer.New(consumer.Config{
		Brokers:       cfg.Brokers,
		Topic:         cfg.Topic,
		Group:         cfg.Group,
		InstanceID:    cfg.InstanceID,
		Handler:       consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (bool, error) { return pl.Handle(ctx, r) }),
		Logger:        log,
		StopTimeout:   cfg.ShutdownTimeout,
		OnStopTimeout: dc.Abort,
		ClientOpts:    opts,
		OnCommit:      func(int32, int64) { m.Commit() },
		OnRebalance: func(event string, parts []int32) {
			if event != "assigned" {
				m.Assigned(-len(parts))
				return
			}
			m.Assigned(len(parts))
			// Partitions added to the source topic cause a rebalance; the
			// budget split must follow, or the group would exceed --rate.
			go refreshPartitions(ctx, cons, cfg.Topic, dc, m, log)
		},
	})
	if err != nil {
		return err
	}
	dlq := deadletter.NewWriter(cons.Client(), cfg.DLQTopic)
	dlq.OnError = func(attempt int, err error) {
		m.DLQError()
		log.Error("dead-letter write failed; the partition waits and retries", zap.Int("attempt", attempt), zap.Error(err))
	}
	pl, err = pipeline.New(pipeline.Config{
		Transformer: tr, Deliverer: pipeline.DelivererFor(dc), DeadLetter: dlq,
		Metrics: m, Logger: log, LogPII: cfg.LogPII, MaxRecordBytes: cfg.MaxRecordBytes, DedupeWindow: cfg.DedupeWindow,
		OnOutcome: hooks.onOutcome,
	})
	if err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, m, log)
		if err != nil {
			return withCode(exitConfig, err)
		}
		defer stopMetrics()
	}
	go summarize(ctx, log, m, time.Minute)
	err = cons.Run(ctx)
	s := m.Snapshot()
	log.Info("closesink stopped", zap.Int64("consumed", s.Consumed), zap.Int64("delivered", s.Delivered),
		zap.Any("dropped", s.Dropped), zap.Any("dead_lettered", s.DeadLettered))
	return err
}

// refreshPartitions re-reads the source topic's partition count and splits
// the rate budget by it. A failure keeps the previous count (logged).
func refreshPartitions(ctx context.Context, cons *consumer.Consumer, topic string, dc *delivery.Client, m *metrics.Metrics, log *zap.Logger) {
	counts, err := checkTopics(ctx, cons.Client(), 10*time.Second, topic)
	if err != nil {
		log.Warn("could not re-read the source topic's partition count; keeping the previous rate split", zap.Error(err))
		return
	}
	dc.SetPartitions(counts[topic])
	m.SourcePartitions(counts[topic])
}

func serveMetrics(addr string, m *metrics.Metrics, log *zap.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", zap.Error(err))
		}
	}()
	log.Info("serving metrics", zap.String("addr", ln.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// summarize logs one line per interval with the counters and the current
// delivery rate, so an operator can see the worker is alive without metrics.
func summarize(ctx context.Context, log *zap.Logger, m *metrics.Metrics, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var prev metrics.Snapshot // the service starts at zero
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := m.Snapshot()
		log.Info("summary",
			zap.Int64("consumed", s.Consumed), zap.Int64("delivered", s.Delivered),
			zap.Any("dropped", s.Dropped), zap.Any("dead_lettered", s.DeadLettered),
			zap.Int64("retries", s.Retries),
			zap.Float64("delivered_per_second", float64(s.Delivered-prev.Delivered)/every.Seconds()))
		prev = s
	}
}
