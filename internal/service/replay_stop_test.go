package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
)

// A DLQ that grows while the replay runs (every record fails again and is
// dead-lettered anew, and another writer appends too) does not keep the
// replay going: it stops at the end offsets it listed at start.
func TestGrowingDLQTerminates(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	var ds []dead
	fail := map[string]int{}
	for _, e := range []string{"a@x.com", "b@x.com", "c@x.com", "d@x.com"} {
		ds = append(ds, dead{email: e, class: pipeline.ClassPermanent, status: 401})
		fail[e] = 401 // the key is good, but every lead fails with 401 again
	}
	h.putDLQ(ds...)
	h.emu.SetFaults(closeemu.Faults{StatusForEmail: fail})
	// Another writer appends to the DLQ before each dead letter lands.
	appendFirst := func(real deadletter.Producer) deadletter.Producer {
		return producerFunc(func(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
			other := &kgo.Record{Topic: h.dlq, Partition: 0, Value: []byte(lead("late@x.com"))}
			if err := h.producer.ProduceSync(ctx, other).FirstErr(); err != nil {
				return kgo.ProduceResults{{Record: rs[0], Err: err}}
			}
			return real.ProduceSync(ctx, rs...)
		})
	}
	s := h.mustReplay(service.ReplayOptions{DLQ: service.DLQTuning{WrapProducer: appendFirst}})
	if s.Read != 4 || s.DeadLettered != 4 || !s.ReachedEnd {
		t.Fatalf("summary %+v", s)
	}
	if e := h.ends(h.dlq)[0]; e != 12 {
		t.Fatalf("DLQ end %d, want 4 originals + 4 late + 4 dead-lettered again", e)
	}
	if c := h.committed(h.replayGroup, h.dlq)[0]; c != 4 {
		t.Fatalf("committed %d, want 4", c)
	}
	n := 0
	for _, r := range h.readDLQ(12)[4:] {
		if header(r, deadletter.HeaderReplays) == "1" {
			n++
			if header(r, deadletter.HeaderStatus) != "401" || header(r, deadletter.HeaderSourceTopic) != h.topic {
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
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.putDLQ(
		dead{email: "x@x.com", class: pipeline.ClassPermanent, status: 403},
		dead{email: "a@x.com", class: pipeline.ClassPermanent, status: 401},
		dead{email: "b@x.com", class: pipeline.ClassPermanent, status: 401},
		dead{email: "c@x.com", class: pipeline.ClassPermanent, status: 401},
	)
	o := service.ReplayOptions{Filter: replay.Filter{Statuses: []int{401}}, Limit: 2}
	s := h.mustReplay(o)
	if s.Selected != 2 || s.Delivered != 2 || s.Skipped != 1 || !s.StoppedAtLimit || s.ReachedEnd {
		t.Fatalf("summary %+v", s)
	}
	if c := h.committed(h.replayGroup, h.dlq)[0]; c != 3 {
		t.Fatalf("committed %d, want 3 (after b)", c)
	}
	if e := h.ends(h.dlq)[0]; e != 5 {
		t.Fatalf("DLQ end %d, want 5 (x re-queued)", e)
	}
	o.Limit = 0
	s = h.mustReplay(o)
	if s.Read != 2 || s.Delivered != 1 || s.Skipped != 1 || !s.ReachedEnd {
		t.Fatalf("second run summary %+v", s)
	}
	if got := h.createdEmails(); len(got) != 3 || got["a@x.com"] != 1 || got["b@x.com"] != 1 || got["c@x.com"] != 1 {
		t.Fatalf("created %v", got)
	}
}

func TestRefusesActiveReplayGroup(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.putDLQ(dead{email: "a@x.com", class: pipeline.ClassPermanent, status: 401})
	member := h.b.NewClient(t, kgo.ConsumerGroup(h.replayGroup), kgo.ConsumeTopics(h.dlq))
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	eventually(t, "member joined", func() string {
		pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		member.PollFetches(pctx) // drives the join
		pcancel()
		groups, err := h.adm.DescribeGroups(ctx, h.replayGroup)
		if err != nil {
			t.Fatalf("describe group: %v", err)
		}
		if n := len(groups[h.replayGroup].Members); n == 0 {
			return "no members"
		}
		return ""
	})
	_, err := h.replayCtx(ctx, service.ReplayOptions{}, nil)
	if !errors.Is(err, replay.ErrGroupActive) {
		t.Fatalf("err = %v, want ErrGroupActive", err)
	}
	// The replay checked the key (before it looked at the group) and sent nothing else.
	if n, checks := h.emu.Stats().Requests, h.requests(meRoute); n != checks || checks > 1 {
		t.Fatalf("%d requests, %d of them key checks, sent by a refused replay", n, checks)
	}
}

// A stop (ctx cancelled) while a record is in progress: with no grace the
// record's own context ends too, so it is not retried and stays
// uncommitted; with grace its request completes, the record is committed,
// and the run stops before the next one.
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
			h := newHarness(t, 1, 1, closeemu.Config{})
			h.putDLQ(
				dead{email: "a@x.com", class: pipeline.ClassPermanent, status: 401},
				dead{email: "b@x.com", class: pipeline.ClassPermanent, status: 401},
				dead{email: "c@x.com", class: pipeline.ClassPermanent, status: 401},
			)
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			stopped := make(chan time.Time, 1)
			h.front.setOnLead(func(n int, w http.ResponseWriter, _ *http.Request) bool {
				if n != 2 {
					return false
				}
				cancel() // the operator's SIGTERM, while this request is on the wire
				stopped <- time.Now()
				if tt.grace > 0 {
					return false // Close answers: the request completes
				}
				// Retryable, after a wait far longer than the test: only the
				// record's context ending with the run's cuts the wait short.
				w.Header().Set("Retry-After", fmt.Sprint(int(2*deadline/time.Second)))
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			})
			s, err := h.replayCtx(ctx, service.ReplayOptions{}, func(c *config.Config) { c.ShutdownTimeout = tt.grace })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if took := time.Since(<-stopped); took > 10*time.Second {
				t.Fatalf("the replay took %s to stop: the record's context did not end with the run's", took)
			}
			if calls := h.requests(leadRoute); s.Delivered != tt.wantDelivered || s.ReachedEnd || calls != 2 {
				t.Fatalf("summary %+v after %d lead requests", s, calls)
			}
			if c := h.committed(h.replayGroup, h.dlq)[0]; c != tt.wantCommitted {
				t.Fatalf("committed %d, want %d", c, tt.wantCommitted)
			}
			if got := h.createdEmails(); got["a@x.com"] != 1 || got["c@x.com"] != 0 || got["b@x.com"] != tt.wantDelivered-1 {
				t.Fatalf("created %v", got)
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

// producerFunc adapts a function to deadletter.Producer.
type producerFunc func(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults

func (f producerFunc) ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	return f(ctx, rs...)
}

type nopProducer struct{}

func (nopProducer) ProduceSync(context.Context, ...*kgo.Record) kgo.ProduceResults { return nil }
