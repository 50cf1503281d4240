package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

const (
	goodKey  = "api_testkeytestkeytestkey01" // accepted unless a test says otherwise
	oldKey   = "api_oldkeyoldkeyoldkey0001"
	deadline = 60 * time.Second // generous: a real broker's first group join is slow

	leadRoute = "POST /api/v1/lead/" // a lead creation, as counted by harness.requests
	meRoute   = "GET /api/v1/me/"    // the start-up key check
)

// harness is one test's world: a Kafka backend with its own source and DLQ
// topics and groups, a Close emulator on loopback behind a front counting
// requests, and a producer. Members and replays are service.Run and Replay.
type harness struct {
	t           testing.TB
	b           *kafkatest.Backend
	topic, dlq  string
	group       string // the service's consumer group
	replayGroup string
	emu         *closeemu.Server
	front       *front
	closeURL    string
	producer    *kgo.Client
	adm         *kadm.Client
	commitLog   *commitLog
}

// newHarness makes a world; the emulator accepts goodKey unless emuCfg says.
func newHarness(t testing.TB, partitions, dlqPartitions int32, emuCfg closeemu.Config) *harness {
	t.Helper()
	b := kafkatest.Start(t)
	if emuCfg.APIKeys == nil {
		emuCfg.APIKeys = []string{goodKey}
	}
	emu := closeemu.New(emuCfg)
	f := &front{emu: emu, seen: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	h := &harness{
		t: t, b: b, emu: emu, front: f, closeURL: srv.URL,
		topic: b.CreateTopic(t, partitions), dlq: b.CreateTopic(t, dlqPartitions),
		group: kafkatest.UniqueName(t, "grp"), replayGroup: kafkatest.UniqueName(t, "replay"),
		commitLog: &commitLog{},
	}
	h.producer = b.NewClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(50*time.Millisecond))
	h.adm = kadm.NewClient(h.producer)
	return h
}

// config is closesink's configuration in this world: no rate limit, no end
// to retries, no dedupe, a 20s shutdown timeout.
func (h *harness) config() config.Config {
	cfg := config.Defaults()
	cfg.Brokers, cfg.Topic, cfg.DLQTopic, cfg.Group = h.b.Brokers, h.topic, h.dlq, h.group
	cfg.CloseURL, cfg.APIKey = h.closeURL, goodKey
	cfg.Rate, cfg.Burst, cfg.MaxRetryDuration, cfg.DedupeWindow, cfg.ShutdownTimeout = 0, 1, 0, 0, 20*time.Second
	return cfg
}

// fastDelivery shortens the delivery client's waits for tests.
func fastDelivery(c *delivery.Config) {
	c.BackoffBase, c.BackoffMax, c.DefaultRateLimitWait = 5*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	c.RequestTimeout = 10 * time.Second
}

// produce writes values to the given source partition, in order.
func (h *harness) produce(partition int32, values ...string) {
	h.t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: h.topic, Partition: partition, Value: []byte(v)}
	}
	kafkatest.Produce(h.t, h.producer, recs...)
}

// produceLeads writes leads, keyed by email: the service's DLQ producer
// hash-partitions their dead letters by that key.
func (h *harness) produceLeads(partition int32, emails ...string) {
	h.t.Helper()
	recs := make([]*kgo.Record, len(emails))
	for i, e := range emails {
		recs[i] = &kgo.Record{Topic: h.topic, Partition: partition, Key: []byte(e), Value: []byte(lead(e))}
	}
	kafkatest.Produce(h.t, h.producer, recs...)
}

// memberOpts tune one group member: cfg edits h.config(); start sets the
// short waits, DLQ backoffs and OnCommit of opts.
type memberOpts struct {
	name   string
	cfg    func(*config.Config)
	opts   service.Options
	logger *zap.Logger // nil: the test's log
}

// member is one running closesink instance (service.Run).
type member struct {
	once   sync.Once
	name   string
	cancel context.CancelFunc
	done   chan error
}

// start runs a member in a goroutine until stop (or the test's end).
func (h *harness) start(o memberOpts) *member {
	h.t.Helper()
	cfg := h.config()
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	log := o.logger
	if log == nil {
		log = zaptest.NewLogger(h.t).Named(o.name)
	}
	opts := o.opts
	opts.Delivery, opts.DLQ.Backoff, opts.DLQ.MaxBackoff = fastDelivery, 10*time.Millisecond, 50*time.Millisecond
	opts.OnCommit = func(p int32, next int64) { h.commitLog.add(o.name, p, next) }
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: o.name, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- service.Run(ctx, cfg, log, opts) }()
	h.t.Cleanup(func() { m.stop(h.t) })
	return m
}

func (m *member) stop(t testing.TB) { // graceful: waits for Run to return nil
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

// replayCtx runs `closesink replay` (service.Replay) on this world's DLQ
// with its replay group; edit adjusts h.config() (nil: none).
func (h *harness) replayCtx(ctx context.Context, o service.ReplayOptions, edit func(*config.Config)) (replay.Summary, error) {
	h.t.Helper()
	cfg := h.config()
	if edit != nil {
		edit(&cfg)
	}
	o.Group, o.Delivery, o.DLQ.Backoff, o.DLQ.MaxBackoff = h.replayGroup, fastDelivery, 10*time.Millisecond, 50*time.Millisecond
	return service.Replay(ctx, cfg, o, zaptest.NewLogger(h.t).Named("replay"))
}

// mustReplay runs a replay that must end (or stop at its limit) in time.
func (h *harness) mustReplay(o service.ReplayOptions) replay.Summary {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	s, err := h.replayCtx(ctx, o, nil)
	if err != nil {
		h.t.Fatalf("replay: %v (summary %+v)", err, s)
	}
	return s
}

// dead describes one record put straight into the DLQ.
type dead struct {
	email  string // "" with value set
	value  string
	class  pipeline.Class
	status int
	ago    time.Duration // failed_at = now - ago
}

// putDLQ writes dead letters to DLQ partition 0, in order, as if source
// records at offsets 100, 101, ... had failed, each with a header trace=<i>.
func (h *harness) putDLQ(ds ...dead) []*kgo.Record {
	h.t.Helper()
	recs := make([]*kgo.Record, len(ds))
	for i, d := range ds {
		v := d.value
		if d.email != "" {
			v = lead(d.email)
		}
		src := &kgo.Record{Topic: h.topic, Partition: 0, Offset: int64(100 + i), Key: []byte(d.email), Value: []byte(v),
			Timestamp: time.Now().Add(-d.ago - time.Minute),
			Headers:   []kgo.RecordHeader{{Key: "trace", Value: []byte(fmt.Sprint(i))}}}
		r := deadletter.Build(h.dlq, src, pipeline.Failure{Class: d.class, HTTPStatus: d.status,
			Message: "failed", Attempts: 1, FailedAt: time.Now().Add(-d.ago)})
		r.Partition = 0
		recs[i] = r
	}
	kafkatest.Produce(h.t, h.producer, recs...)
	return recs
}

// eventually polls cond until it returns "" (see kafkatest.Eventually).
func eventually(t testing.TB, what string, cond func() string) { kafkatest.Eventually(t, what, cond) }

// ends returns topic's end offsets by partition; an error fails the test.
func (h *harness) ends(topic string) map[int32]int64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := h.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		h.t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// committed returns group's committed offsets on topic by partition (none:
// absent). Any error fails the test: it must never read as "none committed".
func (h *harness) committed(group, topic string) map[int32]int64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// This errs on any partition's error too (see its documentation).
	offs, err := h.adm.FetchOffsetsForTopics(ctx, group, topic)
	out := map[int32]int64{}
	if errors.Is(err, kerr.GroupIDNotFound) { // kfake, for a group that never committed
		return out
	} else if err != nil {
		h.t.Fatalf("committed offsets of group %s: %v", group, err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out
}

// at is the service group's committed offset on source partition p (0: none).
func (h *harness) at(p int32) int64 { return h.committed(h.group, h.topic)[p] }

// lagOf is "" when group committed topic's end offset on every partition
// holding records, else the laggards. Admin errors fail the test.
func (h *harness) lagOf(group, topic string) string {
	h.t.Helper()
	ends, committed := h.ends(topic), h.committed(group, topic)
	var behind []string
	for p, end := range ends {
		if end > 0 && committed[p] != end {
			behind = append(behind, fmt.Sprintf("p%d committed=%d end=%d", p, committed[p], end))
		}
	}
	sort.Strings(behind)
	if len(behind) == 0 {
		return ""
	}
	return fmt.Sprint(behind)
}

func (h *harness) lag() string { return h.lagOf(h.group, h.topic) }

func (h *harness) readDLQ(n int) []*kgo.Record { // the whole DLQ, which must hold n records
	h.t.Helper()
	out := h.b.ReadAll(h.t, h.dlq)
	if len(out) != n {
		h.t.Fatalf("DLQ holds %d records, want %d", len(out), n)
	}
	return out
}

func (h *harness) createdEmails() map[string]int { return h.emu.LeadsByEmail() } // leads in Close by email

// requests counts the requests Close got on route ("METHOD /path/").
func (h *harness) requests(route string) int {
	h.front.mu.Lock()
	defer h.front.mu.Unlock()
	return h.front.seen[route]
}

// front stands before the emulator: it counts requests by route and lets a
// test take over lead creations (onLead returns true when it answered).
type front struct {
	emu    *closeemu.Server
	mu     sync.Mutex
	seen   map[string]int
	onLead func(n int, w http.ResponseWriter, r *http.Request) bool
	wire   wireLog // every lead creation: when, for whom, what it was answered (strength_wire_test.go)
}

func (f *front) setOnLead(fn func(n int, w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	f.onLead = fn
	f.mu.Unlock()
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.seen[route]++
	n, hook := f.seen[route], f.onLead
	f.mu.Unlock()
	if route == leadRoute {
		call := f.wire.begin(w, r)
		defer call.end()
		if w = call; hook != nil && hook(n, w, r) {
			return
		}
	}
	f.emu.ServeHTTP(w, r)
}

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
		if o := owners[e.partition]; len(o) == 0 || o[len(o)-1] != e.member {
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
