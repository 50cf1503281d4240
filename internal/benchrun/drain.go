package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
)

// noLimit is the --rate and --burst of the drain: the limiter effectively off.
const noLimit = "1000000"

// drainTopic holds the drain's events: n events, every leadEvery-th a lead,
// each on a partition drawn uniformly. Produced in chunks so the bench's
// own memory stays small.
type drainTopic struct {
	topic, dlq string
	events     int
	leads      int
	bytes      int64
	produceSec float64
}

func makeDrainTopic(ctx context.Context, b *broker, g *gen, n, leadEvery int) (*drainTopic, error) {
	t := &drainTopic{events: n}
	var err error
	if t.topic, err = b.topic(ctx, "drain", partitions); err != nil {
		return nil, err
	}
	if t.dlq, err = b.topic(ctx, "drain-dlq", 1); err != nil {
		return nil, err
	}
	start := time.Now()
	const chunk = 50_000
	for off := 0; off < n; off += chunk {
		m := min(chunk, n-off)
		recs, leads := g.records(t.topic, m, func(i int) bool { return leadEvery > 0 && (off+i)%leadEvery == 0 },
			func(int, bool) int32 { return int32(g.rng.IntN(partitions)) })
		for _, r := range recs {
			t.bytes += int64(len(r.Key) + len(r.Value))
		}
		t.leads += leads
		if err := b.produce(ctx, recs); err != nil {
			return nil, fmt.Errorf("produce the drain topic: %w", err)
		}
	}
	t.produceSec = time.Since(start).Seconds()
	return t, nil
}

// drain times the topic's drain by the bare consumer, then by `closesink
// run`; onBare is told the bare figure before the child starts. name
// prefixes the groups.
func drain(ctx context.Context, o opts, b *broker, t *drainTopic, name string, onBare func(float64)) (drainResult, childResult, error) {
	r := drainResult{Leads: t.leads, AvgEventBytes: float64(t.bytes) / float64(t.events)}
	var err error
	if r.Bare, err = bare(ctx, b, t, uniq(name+"bare"), nil); err != nil {
		return r, childResult{}, err
	}
	onBare(r.Bare)
	c, err := child(ctx, o, b, t, uniq(name+"child"))
	if err != nil {
		return r, c, err
	}
	r.Closesink, r.ClosesinkSeconds, r.Ratio = c.RecordsPerSec, c.Seconds, c.RecordsPerSec/r.Bare
	return r, c, nil
}

// dropPathDrain drains a topic of the same size without leads, as the main
// drain does.
func dropPathDrain(ctx context.Context, o opts, b *broker, g *gen) (*drainResult, error) {
	t, err := makeDrainTopic(ctx, b, g, o.events, 0)
	if err != nil {
		return nil, err
	}
	o.profile = "" // -profile is for the main drain's child
	r, _, err := drain(ctx, o, b, t, "d", func(float64) {})
	return &r, err
}

// variant is a set of fetch settings tried on both consumers.
type variant struct {
	Name string
	opts []kgo.Opt
}

func fetchVariants() []variant {
	return []variant{
		{Name: "default (max 50 MiB, partition 1 MiB, concurrent unlimited; closesink: FetchMaxWait 100 ms)"},
		{Name: "FetchMaxPartitionBytes 256 KiB", opts: []kgo.Opt{kgo.FetchMaxPartitionBytes(256 << 10)}},
		{Name: "FetchMaxPartitionBytes 4 MiB", opts: []kgo.Opt{kgo.FetchMaxPartitionBytes(4 << 20)}},
		{Name: "FetchMaxBytes 1 MiB", opts: []kgo.Opt{kgo.FetchMaxBytes(1 << 20)}},
		{Name: "MaxConcurrentFetches 1", opts: []kgo.Opt{kgo.MaxConcurrentFetches(1)}},
		// closesink sets FetchMaxWait 100 ms (a resumed partition joins the
		// next fetch only after the one in flight returns, which waits up
		// to FetchMaxWait when it has no new data); this row puts back
		// franz-go's default to show what that bought. On the bare
		// consumer it is the default row again.
		{Name: "FetchMaxWait 5 s (franz-go's default; closesink sets 100 ms)", opts: []kgo.Opt{kgo.FetchMaxWait(5 * time.Second)}},
	}
}

// bare drains the topic with a plain franz-go group consumer that polls,
// discards and commits (synchronously, every poll), timed from before the
// client exists (the group join is in it, as in closesink's figure) to
// the last record's commit. It returns records/second.
func bare(ctx context.Context, b *broker, t *drainTopic, group string, extra []kgo.Opt) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	start := time.Now()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.brokers...), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(t.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted())}, extra...)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	seen := 0
	for seen < t.events {
		fs := cl.PollRecords(ctx, 1000)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("bare consumer: %d of %d records: %w", seen, t.events, err)
		}
		recs := fs.Records()
		seen += len(recs)
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			return 0, err
		}
	}
	return float64(t.events) / time.Since(start).Seconds(), nil
}

// childResult is `closesink run` draining the topic as a process.
type childResult struct {
	RecordsPerSec float64 `json:"records_per_sec"`
	Seconds       float64 `json:"seconds"`
	LeadsCreated  int     `json:"leads_created"`
	usage
}

// child drains the topic with `closesink run` as a separate process, timed
// from its start until the group's committed offsets reach the end; its
// footprint is read from /proc just before it is stopped.
func child(ctx context.Context, o opts, b *broker, t *drainTopic, group string) (childResult, error) {
	var r childResult
	emu := newEmulator(0)
	defer emu.close()
	extra := []string{"--rate", noLimit, "--burst", noLimit}
	if o.profile != "" {
		extra = append(extra, "--pprof")
	}
	start := time.Now()
	p, err := startProc(o.bin, o.logDir, o.childEnv, "drain-"+group, runArgs(b, emu.srv.URL, t.topic, t.dlq, group, extra...))
	if err != nil {
		return r, err
	}
	defer p.kill()
	var prof *profiler
	if o.profile != "" {
		if prof, err = startCPUProfile(p, o.profile, o.profileSeconds); err != nil {
			return r, err
		}
	}
	if err := waitCommitted(ctx, b, group, t.topic, p, 20*time.Minute); err != nil {
		return r, err
	}
	r.Seconds = time.Since(start).Seconds()
	r.RecordsPerSec = float64(t.events) / r.Seconds
	if r.usage, err = readUsage(p.cmd.Process.Pid); err != nil {
		return r, err
	}
	if prof != nil {
		if err := prof.finish(); err != nil {
			return r, err
		}
	}
	if err := p.stop(90 * time.Second); err != nil {
		return r, err
	}
	r.LeadsCreated = emu.emu.Stats().Created
	if r.LeadsCreated != t.leads {
		return r, fmt.Errorf("the emulator got %d leads, want %d (log %s)", r.LeadsCreated, t.leads, p.log)
	}
	return r, nil
}

// inProcess drains the topic with the worker `closesink run` builds
// (service.Run) inside this process, with extra client options: only
// --fetch-max-bytes and --buffer-bytes reach a child process (try those with
// -child-env CLOSESINK_FETCH_MAX_BYTES=...), so this is where franz-go's
// other fetch settings are tried on the worker.
func inProcess(ctx context.Context, b *broker, t *drainTopic, group string, extra []kgo.Opt) (float64, error) {
	emu := newEmulator(0)
	defer emu.close()
	cfg := config.Defaults()
	cfg.Brokers, cfg.Topic, cfg.DLQTopic, cfg.Group = b.brokers, t.topic, t.dlq, group
	cfg.CloseURL, cfg.APIKey, cfg.Rate, cfg.Burst = emu.srv.URL, apiKey, 1e6, 1_000_000
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- service.Run(rctx, cfg, zap.NewNop(), service.Options{ClientOpts: extra}) }()
	werr := waitCommitted(ctx, b, group, t.topic, nil, 20*time.Minute)
	secs := time.Since(start).Seconds()
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return 0, err
	}
	if werr != nil {
		return 0, werr
	}
	return float64(t.events) / secs, nil
}

// waitCommitted polls the group's committed offsets every 100 ms until
// they reach the topic's end.
func waitCommitted(ctx context.Context, b *broker, group, topic string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v (log %s)", p.name, p.err, p.log)
		}
		done, err := b.committedAll(ctx, group, topic)
		if err == nil && done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("group %s has not committed the end of %s within %s (last error %v)", group, topic, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
