package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/internal/samples"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
)

// The demo's fixed names. The API key and status id are fake and only ever
// sent to the in-process emulator; the status id is the product page's
// placeholder, so the seed lead matches the page's payload byte for byte.
const (
	demoTopic      = "leads"
	demoDLQTopic   = "leads.dlq"
	demoPartitions = 3
	demoGroup      = "closesink-demo"
	demoAPIKey     = "api_demo0000000000000000000000"
	demoStatusID   = "stat_xxxxxxxxxxxxxxxxxxxxxxxx"
	// demoTimeout bounds the wait for the worker to finish the samples. The
	// demo takes about a second; the margin is for a loaded machine.
	demoTimeout = 30 * time.Second
)

// demoOptions configure runDemo.
type demoOptions struct {
	Events  int           // records to produce, cycling through the samples; <= 0: each sample once
	Mode    string        // the worker's delivery mode: config.ModeCreate ("" too) or config.ModeUpsert
	Out     io.Writer     // the report
	Logs    io.Writer     // the worker's warn-level log lines; nil discards them
	Timeout time.Duration // 0: demoTimeout
}

func demoCommand() *cobra.Command {
	var events int
	var mode string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline on this machine: in-process Kafka, Close emulator, sample events",
		Long: `Run the real closesink worker end to end with nothing installed but Go:
an in-process Kafka cluster (franz-go's kfake) with the topics "leads"
(3 partitions) and "leads.dlq", the in-process Close API emulator on a
loopback port, and the worker exactly as "closesink run" wires it.

The demo produces the sample events (the product page's example, other lead
events, a repeat submitter's two lead events, page views, identify calls,
events without consent or email, invalid and malformed records, and a lead
Close rejects), waits until the consumer
group has committed every offset, stops the worker gracefully and prints
the outcome of every record, the lead payloads Close received and the
contents of the dead-letter topic. It exits 1 if any record's outcome
differs from what the sample expects.

With --mode upsert the worker runs in upsert mode (one lead per person):
the repeat submitter's second event updates the contact and lead Close
already has instead of creating a second lead. The report then gives every
delivered record's action (created, updated, unchanged, skipped), each lead
as it is now in Close and the updates Close received.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(zap.NewNop())
			defer stop()
			_, err := runDemo(ctx, demoOptions{Events: events, Mode: mode, Out: cmd.OutOrStdout(), Logs: cmd.ErrOrStderr()})
			return err
		},
	}
	cmd.Flags().IntVar(&events, "events", 0, "number of events to produce, cycling through the samples (default: each sample once)")
	cmd.Flags().StringVar(&mode, "mode", config.ModeCreate, "the worker's delivery mode: create (a lead per lead event) or upsert (one lead per person)")
	return cmd
}

// errDemoMismatch is returned when a record's outcome differs from its
// sample's expectation (after the report is printed).
var errDemoMismatch = errors.New("demo: some outcomes differ from what the samples expect")

// runDemo runs the demo and prints its report to o.Out. It blocks until the
// worker has stopped and everything it started is shut down.
func runDemo(ctx context.Context, o demoOptions) (*demoResult, error) {
	start := time.Now()
	if o.Timeout <= 0 {
		o.Timeout = demoTimeout
	}
	if o.Logs == nil {
		o.Logs = io.Discard
	}
	if o.Mode == "" {
		o.Mode = config.ModeCreate
	}
	if o.Mode != config.ModeCreate && o.Mode != config.ModeUpsert {
		return nil, fmt.Errorf("%w: demo --mode: %q is not %s or %s", config.ErrInvalid, o.Mode, config.ModeCreate, config.ModeUpsert)
	}
	recs, err := samples.Records(demoTopic, o.Events)
	if err != nil {
		return nil, err
	}
	faults, err := samples.CloseStatusForEmail()
	if err != nil {
		return nil, err
	}
	all, err := samples.All()
	if err != nil {
		return nil, err
	}

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(demoPartitions, demoTopic), kfake.SeedTopics(1, demoDLQTopic))
	if err != nil {
		return nil, fmt.Errorf("demo: start in-process Kafka: %w", err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	emu := closeemu.New(closeemu.Config{APIKeys: []string{demoAPIKey}, Statuses: []string{demoStatusID}})
	emu.SetFaults(closeemu.Faults{StatusForEmail: faults})
	closeURL, stopEmu, err := serveEmulator(emu)
	if err != nil {
		return nil, err
	}
	defer stopEmu()

	worker := "closesink run"
	if o.Mode == config.ModeUpsert {
		worker += " --mode upsert"
		fmt.Fprintf(o.Out, "closesink demo --mode upsert: one lead per person; the real worker, end to end, on this machine\n\n")
	} else {
		fmt.Fprintf(o.Out, "closesink demo: the real worker, end to end, on this machine\n\n")
	}
	fmt.Fprintf(o.Out, "  Kafka   in-process kfake broker %s: topic %q (%d partitions), dead-letter topic %q\n",
		brokers[0], demoTopic, demoPartitions, demoDLQTopic)
	fmt.Fprintf(o.Out, "  Close   in-process emulator %s (told to answer 400 for %d sample address(es))\n", closeURL, len(faults))
	fmt.Fprintf(o.Out, "  Worker  %s, group %q; its log lines at warn level and above follow\n\n", worker, demoGroup)

	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("demo: kafka client: %w", err)
	}
	defer admin.Close()
	produced, err := produceRecords(ctx, admin, recs)
	if err != nil {
		return nil, err
	}

	cfg := demoConfig(brokers, closeURL)
	cfg.Delivery.Mode = o.Mode
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The worker is the real runService; the demo watches it through its
	// hooks: every record's outcome and the service's own counters.
	log := zap.New(consoleCore(o.Logs, zapcore.WarnLevel))
	watched := &outcomeLog{byPos: map[recordPos]pipeline.Outcome{}}
	m := metrics.New()

	// The worker gets its own context: stopping it is the demo's decision
	// (or the user's Ctrl-C, through ctx).
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	done := make(chan error, 1)
	go func() { done <- service.Run(workerCtx, cfg, log, service.Options{Metrics: m, OnOutcome: watched.add}) }()

	waitErr := waitCommitted(ctx, kadm.NewClient(admin), demoTopic, demoGroup, o.Timeout, done)
	stopWorker()
	var runErr error
	if waitErr == nil || !errors.Is(waitErr, errWorkerExited) {
		runErr = <-done // a graceful stop: commits, leaves the group
	}
	_ = log.Sync()
	if waitErr != nil {
		return nil, waitErr
	}
	if runErr != nil {
		return nil, fmt.Errorf("demo: worker: %w", runErr)
	}
	processed := time.Since(start)

	dlq, err := readDeadLetters(ctx, admin, brokers, demoDLQTopic, o.Timeout)
	if err != nil {
		return nil, err
	}
	res := collectResult(o.Mode, all, produced, watched.snapshot(), m.Snapshot(), emu, dlq)
	res.Elapsed = processed
	res.printReport(o.Out)
	fmt.Fprintf(o.Out, "Finished in %.1fs.\n", time.Since(start).Seconds())
	if len(res.Mismatches) > 0 {
		return res, errDemoMismatch
	}
	return res, nil
}

// demoConfig is `closesink run`'s configuration with settings for a demo:
// a generous rate (the emulator has no limit) and short timeouts, so nothing
// waits on a clock built for the real Close.
func demoConfig(brokers []string, closeURL string) config.Config {
	cfg := config.Defaults()
	cfg.Brokers = brokers
	cfg.Topic, cfg.DLQTopic, cfg.Group = demoTopic, demoDLQTopic, demoGroup
	cfg.CloseURL = closeURL
	cfg.APIKey = demoAPIKey
	cfg.LeadStatusID = demoStatusID
	cfg.Rate, cfg.Burst = 300, 30
	cfg.MaxRetryDuration = 5 * time.Second
	cfg.RequestTimeout = 4 * time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.LogLevel, cfg.LogFormat = "warn", "console"
	return cfg
}

// consoleCore writes human-readable log lines at level and above to w.
func consoleCore(w io.Writer, level zapcore.Level) zapcore.Core {
	ec := zap.NewDevelopmentEncoderConfig()
	ec.TimeKey = "" // the demo's lines are read, not correlated
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
	}
	// Lock: partition workers log concurrently and w may be any writer.
	return zapcore.NewCore(zapcore.NewConsoleEncoder(ec), zapcore.Lock(zapcore.AddSync(w)), level)
}

// serveEmulator serves emu on a loopback port with closeemu.Serve; stop
// shuts it down and waits.
func serveEmulator(emu *closeemu.Server) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo: listen for the Close emulator: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = closeemu.Serve(ctx, ln, emu, nil); close(served) }()
	return "http://" + ln.Addr().String(), func() { cancel(); <-served }, nil
}

// produceRecords writes recs synchronously and returns them with their
// partitions and offsets filled in.
func produceRecords(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	results := cl.ProduceSync(ctx, recs...)
	if err := results.FirstErr(); err != nil {
		return nil, fmt.Errorf("produce sample events: %w", err)
	}
	out := make([]*kgo.Record, len(results))
	for i, r := range results {
		out[i] = r.Record
	}
	return out, nil
}

var errWorkerExited = errors.New("demo: the worker stopped before finishing the samples")

// waitCommitted polls until the group's committed offsets reach the topic's
// end offsets on every partition, the worker exits (done), or timeout.
func waitCommitted(ctx context.Context, adm *kadm.Client, topic, group string, timeout time.Duration, done <-chan error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lag string
	for {
		lag = groupLag(ctx, adm, topic, group)
		if lag == "" {
			return nil
		}
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("it returned without an error")
			}
			return fmt.Errorf("%w: %w", errWorkerExited, err)
		case <-ctx.Done():
			return fmt.Errorf("demo: interrupted while waiting for the worker (%s)", lag)
		case <-deadline.C:
			return fmt.Errorf("demo: the worker did not finish within %s (%s)", timeout, lag)
		case <-tick.C:
		}
	}
}

// groupLag is "" when every partition's committed offset equals its end
// offset, else a short description of what is missing.
func groupLag(ctx context.Context, adm *kadm.Client, topic, group string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return "end offsets: " + err.Error()
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return "committed offsets: " + err.Error()
	}
	var behind int64
	ends.Each(func(e kadm.ListedOffset) {
		var at int64
		if c, ok := committed.Lookup(topic, e.Partition); ok && c.Err == nil {
			at = c.At
		}
		behind += max(0, e.Offset-at)
	})
	if behind > 0 {
		return fmt.Sprintf("%d record(s) not yet committed", behind)
	}
	return ""
}

// readDeadLetters reads the whole dead-letter topic, in partition order.
func readDeadLetters(ctx context.Context, admin *kgo.Client, brokers []string, topic string, timeout time.Duration) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ends, err := kadm.NewClient(admin).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("demo: dead-letter end offsets: %w", err)
	}
	var want int64
	ends.Each(func(e kadm.ListedOffset) { want += e.Offset })
	if want == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, fmt.Errorf("demo: dead-letter reader: %w", err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for int64(len(out)) < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("demo: read %d of %d dead-letter records: %w", len(out), want, ctx.Err())
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return nil, fmt.Errorf("demo: read dead-letter topic: %w", errs[0].Err)
		}
		out = append(out, fetches.Records()...)
	}
	return out, nil
}

// outcomeLog collects the outcome of every record, by position; safe for
// concurrent use by the partition workers.
type outcomeLog struct {
	mu    sync.Mutex
	byPos map[recordPos]pipeline.Outcome
}

func (l *outcomeLog) add(rec *kgo.Record, out pipeline.Outcome) {
	l.mu.Lock()
	l.byPos[recordPos{rec.Partition, rec.Offset}] = out
	l.mu.Unlock()
}

func (l *outcomeLog) snapshot() map[recordPos]pipeline.Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.byPos)
}
