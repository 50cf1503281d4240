package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
	"github.com/closesink/closesink/transform"
)

const (
	goodKey  = "api_testkeytestkeytestkey01"
	deadline = 60 * time.Second // generous: the real broker's first group join is slow
)

// harness is one test's world: a Kafka backend with its own source and DLQ
// topics and group, and a Close emulator on loopback.
type harness struct {
	t         *testing.T
	b         *kafkatest.Backend
	topic     string
	dlq       string
	group     string
	emu       *closeemu.Server
	closeURL  string
	producer  *kgo.Client
	commitLog *commitLog
}

func newHarness(t *testing.T, partitions int32, emuCfg closeemu.Config) *harness {
	t.Helper()
	b := kafkatest.Start(t)
	if emuCfg.APIKeys == nil {
		emuCfg.APIKeys = []string{goodKey}
	}
	emu := closeemu.New(emuCfg)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	h := &harness{
		t: t, b: b, emu: emu, closeURL: srv.URL,
		topic:     b.CreateTopic(t, partitions),
		dlq:       b.CreateTopic(t, 1),
		group:     kafkatest.UniqueName(t, "grp"),
		commitLog: &commitLog{},
	}
	h.producer = b.NewClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	return h
}

// produce writes values to the given partition, in order.
func (h *harness) produce(partition int32, values ...string) {
	h.t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: h.topic, Partition: partition, Value: []byte(v)}
	}
	kafkatest.Produce(h.t, h.producer, recs...)
}

// memberOpts tune one group member.
type memberOpts struct {
	name             string
	apiKey           string
	maxRetryDuration time.Duration
	maxRecordBytes   int
	stopTimeout      time.Duration
	transform        transform.Config
	dlqProducer      func(real deadletter.Producer) deadletter.Producer
	onRebalance      func(event string, partitions []int32)
	dedupeWindow     int
	rate             float64 // group budget in requests/second; 0: no limiter
	partitions       int     // source partitions the budget is split by
}

// member is one running closesink instance.
type member struct {
	once   sync.Once
	name   string
	cancel context.CancelFunc
	done   chan error
	dc     *delivery.Client
}

func (h *harness) start(o memberOpts) *member {
	h.t.Helper()
	if o.apiKey == "" {
		o.apiKey = goodKey
	}
	if o.stopTimeout == 0 {
		o.stopTimeout = 20 * time.Second
	}
	tr, err := transform.New(o.transform)
	if err != nil {
		h.t.Fatal(err)
	}
	dc, err := delivery.New(delivery.Config{
		BaseURL: h.closeURL, APIKey: delivery.Secret(o.apiKey),
		RequestTimeout: 10 * time.Second, MaxRetryDuration: o.maxRetryDuration,
		BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		DefaultRateLimitWait: 50 * time.Millisecond,
		Rate:                 o.rate, Burst: 1,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	dc.SetPartitions(o.partitions)
	log := zaptest.NewLogger(h.t).Named(o.name)
	var pl *pipeline.Pipeline
	c, err := consumer.New(consumer.Config{
		Brokers: h.b.Brokers, Topic: h.topic, Group: h.group,
		Handler:     consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (bool, error) { return pl.Handle(ctx, r) }),
		Logger:      log,
		StopTimeout: o.stopTimeout, OnStopTimeout: dc.Abort,
		OnCommit:    func(p int32, next int64) { h.commitLog.add(o.name, p, next) },
		OnRebalance: o.onRebalance,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	var prod deadletter.Producer = c.Client()
	if o.dlqProducer != nil {
		prod = o.dlqProducer(prod)
	}
	w := deadletter.NewWriter(prod, h.dlq)
	w.Backoff, w.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	pl, err = pipeline.New(pipeline.Config{Transformer: tr, Deliverer: pipeline.DelivererFor(dc), DeadLetter: w,
		Logger: log, MaxRecordBytes: o.maxRecordBytes, DedupeWindow: o.dedupeWindow})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: o.name, cancel: cancel, done: make(chan error, 1), dc: dc}
	go func() { m.done <- c.Run(ctx) }()
	h.t.Cleanup(func() { m.stop(h.t) })
	return m
}

// stop stops the member gracefully and waits for Run to return.
func (m *member) stop(t *testing.T) {
	t.Helper()
	m.once.Do(func() {
		m.cancel()
		select {
		case err := <-m.done:
			if err != nil {
				t.Errorf("member %s: Run: %v", m.name, err)
			}
		case <-time.After(deadline):
			t.Errorf("member %s did not stop within %s", m.name, deadline)
		}
	})
}

// eventually polls cond until it returns "" (see kafkatest.Eventually).
func eventually(t *testing.T, what string, cond func() string) { kafkatest.Eventually(t, what, cond) }

// lag is "" when the group's committed offsets equal the topic's end offsets.
func (h *harness) lag() string { return kafkatest.Lag(kadm.NewClient(h.producer), h.group, h.topic) }

// committed returns the group's committed offset for a partition (-1 if
// none, or if the group does not exist yet).
func (h *harness) committed(p int32) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	committed, err := kadm.NewClient(h.producer).FetchOffsets(ctx, h.group)
	if err != nil {
		h.t.Logf("fetch offsets: %v", err)
		return -1
	}
	if c, ok := committed.Lookup(h.topic, p); ok {
		return c.At
	}
	return -1
}

// readDLQ reads the whole DLQ topic (it must hold exactly n records).
func (h *harness) readDLQ(n int) []*kgo.Record {
	h.t.Helper()
	out := h.b.ReadAll(h.t, h.dlq)
	if len(out) != n {
		h.t.Fatalf("DLQ holds %d records, want %d", len(out), n)
	}
	return out
}

// createdEmails counts the leads in the emulator by contact email.
func (h *harness) createdEmails() map[string]int { return h.emu.LeadsByEmail() }

// commitLog records every commit by every member, in order.
type commitLog struct {
	mu      sync.Mutex
	entries []commitEntry
}

type commitEntry struct {
	member    string
	partition int32
	next      int64
}

func (l *commitLog) add(m string, p int32, next int64) {
	l.mu.Lock()
	l.entries = append(l.entries, commitEntry{m, p, next})
	l.mu.Unlock()
}

// check reports a commit that went backwards on a partition, or a member
// committing a partition again after another member had committed it
// (ownership must move once per rebalance, never interleave).
func (l *commitLog) check() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[int32]commitEntry{}
	owners := map[int32][]string{}
	for _, e := range l.entries {
		if prev, ok := last[e.partition]; ok && e.next < prev.next {
			return fmt.Sprintf("p%d: %s committed %d after %s committed %d", e.partition, e.member, e.next, prev.member, prev.next)
		}
		last[e.partition] = e
		o := owners[e.partition]
		if len(o) == 0 || o[len(o)-1] != e.member {
			owners[e.partition] = append(o, e.member)
		}
	}
	for p, o := range owners {
		seen := map[string]bool{}
		for _, m := range o {
			if seen[m] {
				return fmt.Sprintf("p%d: commits interleaved between owners %v", p, o)
			}
			seen[m] = true
		}
	}
	return ""
}

// lead is a lead-creating event for email.
func lead(email string) string {
	return fmt.Sprintf(`{"type":"track","event":"Lead Submitted","messageId":%q,
		"traits":{"email":%q,"firstName":"Test","lastName":"Person","company":"Acme"},
		"context":{"consent":{"marketing":true}}}`, email, email)
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (l *commitLog) snapshot() []commitEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]commitEntry(nil), l.entries...)
}
