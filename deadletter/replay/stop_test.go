package replay_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/pipeline"
)

// A DLQ that grows while the replay runs (every record fails again and is
// dead-lettered anew, and another writer appends too) does not keep the
// replay going: it stops at the end offsets it listed at start.
func TestGrowingDLQTerminates(t *testing.T) {
	w := newWorld(t, 1, 1) // the emulator accepts no key: every lead fails with 401 again
	w.putDLQ(
		dead{email: "a@x.com", class: deadletter.ClassPermanent, status: 401},
		dead{email: "b@x.com", class: deadletter.ClassPermanent, status: 401},
		dead{email: "c@x.com", class: deadletter.ClassPermanent, status: 401},
		dead{email: "d@x.com", class: deadletter.ClassPermanent, status: 401},
	)
	pl := w.processor(newKey)
	cfg := w.config()
	cfg.Processor = processorFunc(func(ctx context.Context, rec *kgo.Record) (pipeline.Outcome, error) {
		other := &kgo.Record{Topic: w.dlq, Partition: 0, Value: []byte(lead("late@x.com"))}
		if err := w.prod.ProduceSync(ctx, other).FirstErr(); err != nil {
			return pipeline.Outcome{}, err
		}
		return pl.Process(ctx, rec)
	})
	s := w.mustReplay(cfg)
	if s.Read != 4 || s.DeadLettered != 4 || !s.ReachedEnd {
		t.Fatalf("summary %+v", s)
	}
	if e := w.ends(w.dlq)[0]; e != 12 {
		t.Fatalf("DLQ end %d, want 4 originals + 4 late + 4 dead-lettered again", e)
	}
	if c := w.committed(w.replayG, w.dlq)[0]; c != 4 {
		t.Fatalf("committed %d, want 4", c)
	}
	n := 0
	for _, r := range w.readAll(w.dlq)[4:] {
		if header(r, deadletter.HeaderReplays) == "1" {
			n++
			if header(r, deadletter.HeaderStatus) != "401" || header(r, deadletter.HeaderSourceTopic) != w.src {
				t.Errorf("dead-lettered again with headers %v", r.Headers)
			}
		}
	}
	if n != 4 {
		t.Fatalf("%d records with closesink.replays=1, want 4", n)
	}
}

// --limit stops after N selected records; skipped ones before them are
// re-queued, everything after waits for the next run.
func TestLimit(t *testing.T) {
	w := newWorld(t, 1, 1, newKey)
	w.putDLQ(
		dead{email: "x@x.com", class: deadletter.ClassPermanent, status: 403},
		dead{email: "a@x.com", class: deadletter.ClassPermanent, status: 401},
		dead{email: "b@x.com", class: deadletter.ClassPermanent, status: 401},
		dead{email: "c@x.com", class: deadletter.ClassPermanent, status: 401},
	)
	cfg := w.config()
	cfg.Processor, cfg.Filter, cfg.Limit = w.processor(newKey), replay.Filter{Statuses: []int{401}}, 2
	s := w.mustReplay(cfg)
	if s.Selected != 2 || s.Delivered != 2 || s.Skipped != 1 || !s.StoppedAtLimit || s.ReachedEnd {
		t.Fatalf("summary %+v", s)
	}
	if c := w.committed(w.replayG, w.dlq)[0]; c != 3 {
		t.Fatalf("committed %d, want 3 (after b)", c)
	}
	if e := w.ends(w.dlq)[0]; e != 5 {
		t.Fatalf("DLQ end %d, want 5 (x re-queued)", e)
	}
	cfg.Limit = 0
	s = w.mustReplay(cfg)
	if s.Read != 2 || s.Delivered != 1 || s.Skipped != 1 || !s.ReachedEnd {
		t.Fatalf("second run summary %+v", s)
	}
	if got := w.createdEmails(); len(got) != 3 || got["a@x.com"] != 1 || got["b@x.com"] != 1 || got["c@x.com"] != 1 {
		t.Fatalf("created %v", got)
	}
}

func TestRefusesActiveReplayGroup(t *testing.T) {
	w := newWorld(t, 1, 1, newKey)
	w.putDLQ(dead{email: "a@x.com", class: deadletter.ClassPermanent, status: 401})
	member := w.b.NewClient(t, kgo.ConsumerGroup(w.replayG), kgo.ConsumeTopics(w.dlq))
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	eventually(t, "member joined", func() string {
		pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		member.PollFetches(pctx) // drives the join
		pcancel()
		groups, err := w.adm.DescribeGroups(ctx, w.replayG)
		if err != nil {
			return err.Error()
		}
		if n := len(groups[w.replayG].Members); n == 0 {
			return "no members"
		}
		return ""
	})
	cfg := w.config()
	cfg.Processor = w.processor(newKey)
	_, err := w.replay(cfg)
	if !errors.Is(err, replay.ErrGroupActive) {
		t.Fatalf("err = %v, want ErrGroupActive", err)
	}
	if n := w.emu.Stats().Requests; n != 0 {
		t.Fatalf("%d requests sent by a refused replay", n)
	}
}

// A stop (ctx cancelled) while a record is in progress: with no grace the
// record's own context ends too and it stays uncommitted; with grace the
// record finishes, is committed, and the run stops before the next one.
func TestStopMidRun(t *testing.T) {
	for _, tt := range []struct {
		name          string
		grace         time.Duration
		wantCommitted int64
		wantDelivered int
	}{
		{"no grace: record in progress not committed", 0, 1, 1},
		{"grace: record in progress finishes", 30 * time.Second, 2, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, 1, 1)
			w.putDLQ(
				dead{email: "a@x.com", class: deadletter.ClassPermanent, status: 401},
				dead{email: "b@x.com", class: deadletter.ClassPermanent, status: 401},
				dead{email: "c@x.com", class: deadletter.ClassPermanent, status: 401},
			)
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			var calls atomic.Int32
			cfg := w.config()
			cfg.StopTimeout = tt.grace
			cfg.Processor = processorFunc(func(pctx context.Context, rec *kgo.Record) (pipeline.Outcome, error) {
				if calls.Add(1) != 2 {
					return pipeline.Outcome{Kind: pipeline.Delivered}, nil
				}
				cancel() // the operator's SIGTERM, while this record is in flight
				if tt.grace > 0 {
					if pctx.Err() != nil {
						t.Error("the record's context ended at once despite the grace period")
					}
					return pipeline.Outcome{Kind: pipeline.Delivered}, nil // the request completes
				}
				select {
				case <-pctx.Done():
					return pipeline.Outcome{}, fmt.Errorf("%w: interrupted", pipeline.ErrNotFinal)
				case <-time.After(deadline):
					t.Error("the record's context did not end with the run's")
					return pipeline.Outcome{}, pipeline.ErrNotFinal
				}
			})
			s, err := replay.Run(ctx, cfg)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if s.Delivered != tt.wantDelivered || s.ReachedEnd || calls.Load() != 2 {
				t.Fatalf("summary %+v after %d calls", s, calls.Load())
			}
			if c := w.committed(w.replayG, w.dlq)[0]; c != tt.wantCommitted {
				t.Fatalf("committed %d, want %d", c, tt.wantCommitted)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	base := replay.Config{ClientOpts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}, Admin: kadm.NewClient(nil), Producer: nopProducer{},
		Topic: "dlq", Group: "g", Processor: processorFunc(nil)}
	for _, tt := range []struct {
		name string
		edit func(*replay.Config)
		ok   bool
	}{
		{"complete", func(*replay.Config) {}, true},
		{"no admin", func(c *replay.Config) { c.Admin = nil }, false},
		{"no brokers", func(c *replay.Config) { c.ClientOpts = nil }, false},
		{"no topic", func(c *replay.Config) { c.Topic = "" }, false},
		{"no group", func(c *replay.Config) { c.Group = "" }, false},
		{"negative limit", func(c *replay.Config) { c.Limit = -1 }, false},
		{"to-topic is the DLQ", func(c *replay.Config) { c.ToTopic = "dlq" }, false},
		{"no processor", func(c *replay.Config) { c.Processor = nil }, false},
		{"to-topic needs no processor", func(c *replay.Config) { c.Processor, c.ToTopic = nil, "src" }, true},
		{"no producer", func(c *replay.Config) { c.Producer = nil }, false},
		{"dry run needs neither", func(c *replay.Config) {
			c.Processor, c.Producer, c.DryRun = nil, nil, func(*kgo.Record, deadletter.Info) {}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			err := c.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, replay.ErrInvalidConfig)) {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

type processorFunc func(ctx context.Context, rec *kgo.Record) (pipeline.Outcome, error)

func (f processorFunc) Process(ctx context.Context, rec *kgo.Record) (pipeline.Outcome, error) {
	return f(ctx, rec)
}

type nopProducer struct{}

func (nopProducer) ProduceSync(context.Context, ...*kgo.Record) kgo.ProduceResults { return nil }
