package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pkg/closeemu"
)

// apiKey is the key the emulator accepts and the children send.
const apiKey = "api_bench_key"

// partitions is the source topic's partition count in every scenario.
const partitions = 12

// broker is the cluster the bench runs on: the real one named by
// KAFKA_BROKERS, else a kfake cluster served from this process on
// 127.0.0.1 TCP ports, so the closesink children reach it like a broker.
type broker struct {
	name    string // "kfake" or "kafka"
	brokers []string
	fake    *kfake.Cluster
	adm     *kadm.Client
	cl      *kgo.Client
	topics  []string
}

func newBroker(env string, port int) (*broker, error) {
	b := &broker{name: "kafka"}
	if env = strings.TrimSpace(env); env != "" {
		b.brokers = strings.Split(env, ",")
	} else {
		opts := []kfake.Opt{kfake.NumBrokers(1)}
		if port > 0 {
			opts = append(opts, kfake.Ports(port))
		}
		c, err := kfake.NewCluster(opts...)
		if err != nil {
			return nil, fmt.Errorf("start kfake: %w", err)
		}
		b.name, b.fake, b.brokers = "kfake", c, c.ListenAddrs()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(50_000))
	if err != nil {
		return nil, err
	}
	b.cl, b.adm = cl, kadm.NewClient(cl)
	return b, nil
}

// topic creates a topic with n partitions under a run-unique name.
func (b *broker) topic(ctx context.Context, prefix string, n int32) (string, error) {
	name := fmt.Sprintf("bench-%s-%d", prefix, time.Now().UnixNano())
	resp, err := b.adm.CreateTopic(ctx, n, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return "", fmt.Errorf("create topic %s: %w", name, err)
	}
	b.topics = append(b.topics, name)
	// A real broker answers CreateTopics before every metadata answer
	// lists the topic; the children check their topics at start.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d, err := b.adm.ListTopics(ctx, name)
		if err == nil && d.Has(name) && d[name].Err == nil && len(d[name].Partitions) == int(n) {
			return name, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("topic %s not listed 30s after its creation (%v)", name, err)
		}
	}
}

func (b *broker) close() {
	if len(b.topics) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = b.adm.DeleteTopics(ctx, b.topics...)
		cancel()
	}
	b.cl.Close()
	if b.fake != nil {
		b.fake.Close()
	}
}

// produce writes recs (each with its Partition set) and waits for every ack.
func (b *broker) produce(ctx context.Context, recs []*kgo.Record) error {
	var (
		mu    sync.Mutex
		first error
	)
	for _, r := range recs {
		b.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	if err := b.cl.Flush(ctx); err != nil {
		return err
	}
	return first
}

// committedAll reports whether group has committed every end offset of topic.
func (b *broker) committedAll(ctx context.Context, group, topic string) (bool, error) {
	ends, err := b.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, err
	}
	offs, err := b.adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err
	}
	done := true
	ends.Each(func(e kadm.ListedOffset) {
		if e.Offset == 0 {
			return
		}
		o, ok := offs.Lookup(topic, e.Partition)
		if !ok || o.Err != nil || o.At < e.Offset {
			done = false
		}
	})
	return done, nil
}

// gen makes realistic Signal events (≈700 bytes: a track call with traits
// and page, library and consent context). Lead events are "Lead Submitted"
// with a unique email and marketing consent; the others are track events
// closesink does not map (dropped no_mapped_name, unparsed), as most of a real topic is.
type gen struct {
	rng *rand.Rand
	run string
}

func newGen(seed uint64) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, 0xbe7c)), run: fmt.Sprintf("%x", seed&0xffffff)}
}

var otherEvents = []string{"Product Viewed", "Button Clicked", "Pricing Page Scrolled", "Video Played", "Docs Searched"}

// email is the address of lead i of this generator's run.
func (g *gen) email(i int) string { return fmt.Sprintf("lead-%s-%d@bench.example", g.run, i) }

// event returns the i-th event's key and value; lead events use email(i).
func (g *gen) event(i int, lead bool) (key, value []byte) {
	user := fmt.Sprintf("user-%06d", g.rng.IntN(200_000))
	name, email, consent := otherEvents[i%len(otherEvents)], fmt.Sprintf("%s@visitor.example", user), "false"
	if lead {
		name, email, consent = "Lead Submitted", g.email(i), "true"
	}
	ev := map[string]any{
		"type": "track", "event": name,
		"messageId": fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.rng.Uint32(), i&0xffff, g.rng.IntN(4096), g.rng.IntN(4096), g.rng.Uint64()&0xffffffffffff),
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "userId": user, "anonymousId": "anon_" + user[5:],
		"properties": map[string]any{"lead_type": "Pricing enquiry", "plan": "growth"},
		"traits": map[string]any{"email": email, "phone": "+44 7700 900123", "firstName": "Jane", "lastName": "Doe",
			"title": "Head of Growth", "company": "Acme Inc"},
		"context": map[string]any{
			"page":      map[string]any{"url": "https://example.com/pricing?utm_source=newsletter", "path": "/pricing", "title": "Pricing"},
			"userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36",
			"ip":        "203.0.113.7", "locale": "en-GB",
			"library": map[string]any{"name": "signal.js", "version": "2.4.1"},
			"consent": map[string]any{"analytics": true, "marketing": consent == "true"},
		},
	}
	v, _ := json.Marshal(ev)
	return []byte(user), v
}

// records makes n events on partitions chosen by part, leads where isLead.
func (g *gen) records(topic string, n int, isLead func(i int) bool, part func(i int, lead bool) int32) ([]*kgo.Record, int) {
	recs := make([]*kgo.Record, n)
	leads := 0
	for i := range recs {
		lead := isLead(i)
		if lead {
			leads++
		}
		k, v := g.event(i, lead)
		recs[i] = &kgo.Record{Topic: topic, Key: k, Value: v, Partition: part(i, lead)}
	}
	return recs, leads
}

// emulator is the Close emulator on a loopback HTTP server, recording when
// each lead create arrived, by contact email.
type emulator struct {
	emu *closeemu.Server
	srv *httptest.Server
	mu  sync.Mutex
	arr map[string]time.Time
	seq []time.Time // arrival times of the lead creates answered 200, in order
}

func newEmulator(rateLimit float64) *emulator {
	e := &emulator{emu: closeemu.New(closeemu.Config{APIKeys: []string{apiKey}, RateLimit: rateLimit}), arr: map[string]time.Time{}}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	return e
}

func (e *emulator) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/lead/" {
		e.emu.ServeHTTP(w, r)
		return
	}
	at := time.Now()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	sw := &statusWriter{ResponseWriter: w, status: 200}
	e.emu.ServeHTTP(sw, r)
	if sw.status != 200 {
		return
	}
	var lead struct {
		Contacts []struct {
			Emails []struct{ Email string } `json:"emails"`
		} `json:"contacts"`
	}
	_ = json.Unmarshal(body, &lead)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq = append(e.seq, at)
	if len(lead.Contacts) > 0 && len(lead.Contacts[0].Emails) > 0 {
		e.arr[lead.Contacts[0].Emails[0].Email] = at
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (e *emulator) arrivals() []time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Time(nil), e.seq...)
}

func (e *emulator) arrivedAt(email string) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.arr[email]
	return t, ok
}

func (e *emulator) close() {
	e.srv.CloseClientConnections()
	e.srv.Close()
}
