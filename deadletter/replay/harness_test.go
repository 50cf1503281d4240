package replay_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
	"github.com/closesink/closesink/transform"
)

const (
	oldKey   = "api_oldkeyoldkeyoldkey0001"
	newKey   = "api_newkeynewkeynewkey0002"
	deadline = 60 * time.Second // generous: a real broker's first group join is slow
)

// world is one test's Kafka topics, Close emulator and clients.
type world struct {
	t        *testing.T
	b        *kafkatest.Backend
	emu      *closeemu.Server
	closeURL string
	src, dlq string
	group    string // the service's group
	replayG  string
	prod     *kgo.Client
	adm      *kadm.Client
}

func newWorld(t *testing.T, srcPartitions, dlqPartitions int32, keys ...string) *world {
	t.Helper()
	b := kafkatest.Start(t)
	emu := closeemu.New(closeemu.Config{APIKeys: keys})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	w := &world{
		t: t, b: b, emu: emu, closeURL: srv.URL,
		src: b.CreateTopic(t, srcPartitions), dlq: b.CreateTopic(t, dlqPartitions),
		group: kafkatest.UniqueName(t, "grp"), replayG: kafkatest.UniqueName(t, "replay"),
	}
	w.prod = b.NewClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(50*time.Millisecond))
	w.adm = kadm.NewClient(w.prod)
	return w
}

// lead is a lead-creating event for email.
func lead(email string) string {
	return fmt.Sprintf(`{"type":"track","event":"Lead Submitted","messageId":%q,
		"traits":{"email":%q,"firstName":"Test","lastName":"Person","company":"Acme"},
		"context":{"consent":{"marketing":true}}}`, email, email)
}

// produceSource writes leads to the source topic, keyed by email so the
// producer's hash partitioner spreads them (and their dead letters).
func (w *world) produceSource(partition int32, emails ...string) {
	w.t.Helper()
	recs := make([]*kgo.Record, len(emails))
	for i, e := range emails {
		recs[i] = &kgo.Record{Topic: w.src, Partition: partition, Key: []byte(e), Value: []byte(lead(e))}
	}
	kafkatest.Produce(w.t, w.prod, recs...)
}

// dead describes one record put straight into the DLQ.
type dead struct {
	email  string // "" with value set
	value  string
	class  deadletter.Class
	status int
	ago    time.Duration // failed_at = now - ago
}

// putDLQ writes dead-letter records, in order, to DLQ partition 0, as if
// source records at offsets 100, 101, ... of the source topic had failed.
// Each carries an original header trace=<i>.
func (w *world) putDLQ(ds ...dead) []*kgo.Record {
	w.t.Helper()
	recs := make([]*kgo.Record, len(ds))
	for i, d := range ds {
		v := d.value
		if d.email != "" {
			v = lead(d.email)
		}
		src := &kgo.Record{Topic: w.src, Partition: 0, Offset: int64(100 + i), Key: []byte(d.email), Value: []byte(v),
			Timestamp: time.Now().Add(-d.ago - time.Minute),
			Headers:   []kgo.RecordHeader{{Key: "trace", Value: []byte(fmt.Sprint(i))}}}
		r := deadletter.Build(w.dlq, src, deadletter.Failure{Class: d.class, HTTPStatus: d.status,
			Message: "failed", Attempts: 1, FailedAt: time.Now().Add(-d.ago)})
		r.Partition = 0
		recs[i] = r
	}
	kafkatest.Produce(w.t, w.prod, recs...)
	return recs
}

// processor is the replay's pipeline with apiKey, like `closesink replay`
// builds it: dead letters go back to the same DLQ.
func (w *world) processor(apiKey string) *pipeline.Pipeline {
	w.t.Helper()
	tr, err := transform.New(transform.Config{})
	if err != nil {
		w.t.Fatal(err)
	}
	dc := w.deliveryClient(apiKey)
	dc.SetPartitions(1)
	dl := deadletter.NewWriter(w.prod, w.dlq)
	dl.Backoff, dl.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	pl, err := pipeline.New(pipeline.Config{Transformer: tr, Deliverer: replay.Deliverer(dc), DeadLetter: dl,
		Logger: zaptest.NewLogger(w.t).Named("replay")})
	if err != nil {
		w.t.Fatal(err)
	}
	return pl
}

func (w *world) deliveryClient(apiKey string) *delivery.Client {
	w.t.Helper()
	dc, err := delivery.New(delivery.Config{
		BaseURL: w.closeURL, APIKey: delivery.Secret(apiKey), RequestTimeout: 10 * time.Second,
		MaxRetryDuration: time.Second, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		DefaultRateLimitWait: 50 * time.Millisecond,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return dc
}

// config is the base replay configuration of this world.
func (w *world) config() replay.Config {
	return replay.Config{
		ClientOpts: []kgo.Opt{kgo.SeedBrokers(w.b.Brokers...)},
		Admin:      w.adm, Producer: w.prod,
		Topic: w.dlq, Group: w.replayG,
		Logger: zaptest.NewLogger(w.t).Named("replay"),
	}
}

func (w *world) replay(cfg replay.Config) (replay.Summary, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	return replay.Run(ctx, cfg)
}

// mustReplay runs a replay that must reach its end without error.
func (w *world) mustReplay(cfg replay.Config) replay.Summary {
	w.t.Helper()
	s, err := w.replay(cfg)
	if err != nil {
		w.t.Fatalf("replay: %v (summary %+v)", err, s)
	}
	return s
}

// runService runs `closesink run` (consumer and pipeline) with apiKey until
// the returned stop is called.
func (w *world) runService(apiKey string) (stop func()) {
	w.t.Helper()
	tr, err := transform.New(transform.Config{})
	if err != nil {
		w.t.Fatal(err)
	}
	dc := w.deliveryClient(apiKey)
	log := zaptest.NewLogger(w.t).Named("service")
	var pl *pipeline.Pipeline
	c, err := consumer.New(consumer.Config{
		Brokers: w.b.Brokers, Topic: w.src, Group: w.group, Logger: log, StopTimeout: 20 * time.Second,
		Handler: consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (bool, error) { return pl.Handle(ctx, r) }),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	dl := deadletter.NewWriter(c.Client(), w.dlq)
	pl, err = pipeline.New(pipeline.Config{Transformer: tr, Deliverer: pipeline.DelivererFor(dc), DeadLetter: dl, Logger: log})
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				w.t.Errorf("service: %v", err)
			}
		case <-time.After(deadline):
			w.t.Errorf("service did not stop within %s", deadline)
		}
	}
	w.t.Cleanup(stop)
	return stop
}

// eventually polls cond until it returns "" (see kafkatest.Eventually).
func eventually(t *testing.T, what string, cond func() string) { kafkatest.Eventually(t, what, cond) }

// ends returns topic's end offsets by partition.
func (w *world) ends(topic string) map[int32]int64 {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := w.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

func total(m map[int32]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// committed returns a group's committed offsets on topic (absent: none).
func (w *world) committed(group, topic string) map[int32]int64 {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := w.adm.FetchOffsetsForTopics(ctx, group, topic)
	if errors.Is(err, kerr.GroupIDNotFound) { // kfake, for a group never committed
		return map[int32]int64{}
	}
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out
}

// lagOf is "" when group has committed topic's end offsets on every
// partition that holds records.
func (w *world) lagOf(group, topic string) string { return kafkatest.Lag(w.adm, group, topic) }

// readAll reads every record of topic (see kafkatest.Backend.ReadAll).
func (w *world) readAll(topic string) []*kgo.Record { return w.b.ReadAll(w.t, topic) }

// createdEmails counts the leads in the emulator by contact email.
func (w *world) createdEmails() map[string]int { return w.emu.LeadsByEmail() }

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
