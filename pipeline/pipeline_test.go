package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/transform"
)

type fakeDeliverer struct {
	out   delivery.Outcome
	calls int
	body  []byte
}

func (f *fakeDeliverer) Deliver(_ context.Context, _ int32, body []byte) delivery.Outcome {
	f.calls++
	f.body = body
	return f.out
}

type fakeDLQ struct {
	err      error
	failures []Failure
}

func (f *fakeDLQ) Write(_ context.Context, _ *kgo.Record, fl Failure) error {
	if f.err != nil {
		return f.err
	}
	f.failures = append(f.failures, fl)
	return nil
}

var errStopped = errors.New("stopped before the record was acknowledged")

// fakeMetrics counts what the pipeline reports (one test goroutine only).
type fakeMetrics struct {
	consumed, Delivered   int64
	Dropped, DeadLettered map[string]int64
	actions               map[string]int64
}

func (m *fakeMetrics) Consumed()             { m.consumed++ }
func (m *fakeMetrics) Delivery(int, float64) {}
func (m *fakeMetrics) PhoneLeftOut(string)   {}
func (m *fakeMetrics) DeliveredAction(a string) {
	if m.actions == nil {
		m.actions = map[string]int64{}
	}
	m.actions[a]++
}
func (m *fakeMetrics) Outcome(outcome, reason string) {
	switch outcome {
	case Delivered.String():
		m.Delivered++
	case Dropped.String():
		m.Dropped[reason]++
	case DeadLettered.String():
		m.DeadLettered[reason]++
	}
}
func (m *fakeMetrics) snapshot() fakeMetrics { return *m }

const leadEvent = `{"type":"track","event":"Lead Submitted","traits":{"email":"Jane.Doe@Acme.com","company":"Acme"},"context":{"consent":{"marketing":true}}}`

func newTest(t *testing.T, d *fakeDeliverer, q *fakeDLQ, mod func(*Config)) (*Pipeline, *fakeMetrics, *observer.ObservedLogs) {
	t.Helper()
	tr, err := transform.New(transform.Config{})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	m := &fakeMetrics{Dropped: map[string]int64{}, DeadLettered: map[string]int64{}}
	cfg := Config{Transformer: tr, Deliverer: d, DeadLetter: q, Metrics: m, Logger: zap.New(core)}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, m, logs
}

func TestOutcomes(t *testing.T) {
	cases := []struct {
		name      string
		value     string
		delivery  delivery.Outcome
		wantKind  Kind
		wantClass Class
		wantDrop  transform.DropReason
		wantCalls int
		urgent    bool
	}{
		{"delivered", leadEvent, delivery.Outcome{Status: delivery.Delivered, HTTPStatus: 200, Attempts: 1, LeadID: "lead_1"}, Delivered, "", "", 1, true},
		{"permanent", leadEvent, delivery.Outcome{Status: delivery.Permanent, HTTPStatus: 401, Message: "Unauthorized", Attempts: 1}, DeadLettered, ClassPermanent, "", 1, true},
		{"exhausted", leadEvent, delivery.Outcome{Status: delivery.RetriesExhausted, HTTPStatus: 503, Attempts: 7}, DeadLettered, ClassRetriesExhausted, "", 1, true},
		{"dropped", `{"type":"page"}`, delivery.Outcome{}, Dropped, "", transform.DropNoMappedName, 0, false},
		{"invalid", `nope`, delivery.Outcome{}, DeadLettered, ClassInvalidEvent, "", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, q := &fakeDeliverer{out: tc.delivery}, &fakeDLQ{}
			var hooked []Outcome
			p, m, _ := newTest(t, d, q, func(c *Config) { c.OnOutcome = func(_ *kgo.Record, o Outcome) { hooked = append(hooked, o) } })
			urgent, err := p.Handle(context.Background(), &kgo.Record{Value: []byte(tc.value)})
			if err != nil {
				t.Fatal(err)
			}
			if urgent != tc.urgent || d.calls != tc.wantCalls || len(hooked) != 1 {
				t.Fatalf("urgent=%v calls=%d hooked=%d", urgent, d.calls, len(hooked))
			}
			out := hooked[0]
			if out.Kind != tc.wantKind || out.Class != tc.wantClass || out.DropReason != tc.wantDrop {
				t.Fatalf("outcome %+v", out)
			}
			if tc.wantClass != "" {
				if len(q.failures) != 1 || q.failures[0].Class != tc.wantClass || q.failures[0].HTTPStatus != tc.delivery.HTTPStatus ||
					q.failures[0].Attempts != tc.delivery.Attempts || q.failures[0].FailedAt.IsZero() {
					t.Fatalf("DLQ failure %+v", q.failures)
				}
			}
			if s := m.snapshot(); s.consumed != 1 {
				t.Fatalf("consumed %d", s.consumed)
			}
		})
	}
}

func TestDeliveredBodyIsTheTransformedLead(t *testing.T) {
	d := &fakeDeliverer{out: delivery.Outcome{Status: delivery.Delivered}}
	p, _, _ := newTest(t, d, &fakeDLQ{}, nil)
	if _, err := p.Process(context.Background(), &kgo.Record{Value: []byte(leadEvent)}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(d.body), `"email":"jane.doe@acme.com"`) || !strings.Contains(string(d.body), `"name":"Acme"`) {
		t.Fatalf("body %s", d.body)
	}
}

func TestNotFinal(t *testing.T) {
	t.Run("delivery interrupted", func(t *testing.T) {
		q := &fakeDLQ{}
		p, m, _ := newTest(t, &fakeDeliverer{out: delivery.Outcome{Status: delivery.Interrupted}}, q, nil)
		_, err := p.Process(context.Background(), &kgo.Record{Value: []byte(leadEvent)})
		if !errors.Is(err, ErrNotFinal) || len(q.failures) != 0 {
			t.Fatalf("err=%v dlq=%d", err, len(q.failures))
		}
		if s := m.snapshot(); s.Delivered+int64(len(s.DeadLettered)) != 0 {
			t.Fatalf("counted a non-final outcome: %+v", s)
		}
	})
	t.Run("dead-letter write did not complete", func(t *testing.T) {
		q := &fakeDLQ{err: errStopped}
		p, _, _ := newTest(t, &fakeDeliverer{}, q, nil)
		if _, err := p.Process(context.Background(), &kgo.Record{Value: []byte("garbage")}); !errors.Is(err, ErrNotFinal) {
			t.Fatalf("err=%v", err)
		}
	})
}

func TestOversizedRecordIsInvalidWithoutParsing(t *testing.T) {
	q := &fakeDLQ{}
	p, _, _ := newTest(t, &fakeDeliverer{}, q, func(c *Config) { c.MaxRecordBytes = 10 })
	if _, err := p.Process(context.Background(), &kgo.Record{Value: []byte(leadEvent)}); err != nil {
		t.Fatal(err)
	}
	if len(q.failures) != 1 || q.failures[0].Class != ClassInvalidEvent || !strings.Contains(q.failures[0].Message, "10-byte limit") {
		t.Fatalf("%+v", q.failures)
	}
}

func TestLogsMaskEmailsUnlessOptedIn(t *testing.T) {
	for _, pii := range []bool{false, true} {
		d := &fakeDeliverer{out: delivery.Outcome{Status: delivery.Permanent, HTTPStatus: 400,
			Message: `bad contact jane.doe@acme.com, phone +44 7700 900123`}}
		p, _, logs := newTest(t, d, &fakeDLQ{}, func(c *Config) { c.LogPII = pii })
		if _, err := p.Process(context.Background(), &kgo.Record{Value: []byte(leadEvent)}); err != nil {
			t.Fatal(err)
		}
		all := strings.ToLower(encodeLogs(t, logs)) // the event has Jane.Doe@Acme.com
		for _, secret := range []string{"jane.doe@acme.com", "7700 900123"} {
			if got := strings.Contains(all, secret); got != pii {
				t.Fatalf("LogPII=%v: %q in logs = %v: %s", pii, secret, got, all)
			}
		}
	}
}

// encodeLogs renders every observed entry as the JSON line the service
// would write: message and every field, whatever its type (errors and
// objects included), so a leak scan sees what an operator would.
func encodeLogs(t *testing.T, logs *observer.ObservedLogs) string {
	t.Helper()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	var all strings.Builder
	for _, e := range logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(buf.Bytes())
		buf.Free()
	}
	return all.String()
}

func TestDuplicateMessageIDIsDroppedWithinTheWindow(t *testing.T) {
	d := &fakeDeliverer{out: delivery.Outcome{Status: delivery.Delivered}}
	p, m, _ := newTest(t, d, &fakeDLQ{}, func(c *Config) { c.DedupeWindow = 2 })
	ev := func(id string) *kgo.Record {
		return &kgo.Record{Partition: 0, Value: []byte(`{"messageId":"` + id + `",` + leadEvent[1:])}
	}
	process := func(r *kgo.Record) Outcome {
		t.Helper()
		out, err := p.Process(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := process(ev("m1")); out.Kind != Delivered {
		t.Fatalf("first: %+v", out)
	}
	if out := process(ev("m1")); out.Kind != Dropped || out.DropReason != DropDuplicate {
		t.Fatalf("repeat: %+v", out)
	}
	other := ev("m1")
	other.Partition = 1
	if out := process(other); out.Kind != Delivered {
		t.Fatalf("same id on another partition is not deduplicated (per-partition window): %+v", out)
	}
	process(ev("m2"))
	process(ev("m3")) // window of 2: m1 is forgotten
	if out := process(ev("m1")); out.Kind != Delivered {
		t.Fatalf("m1 after it left the window: %+v", out)
	}
	if d.calls != 5 {
		t.Fatalf("Close called %d times, want 5", d.calls)
	}
	if s := m.snapshot(); s.Dropped["duplicate"] != 1 {
		t.Fatalf("duplicate drops counted: %v", s.Dropped)
	}
}

func TestFailedDeliveryIsNotRemembered(t *testing.T) {
	d := &fakeDeliverer{out: delivery.Outcome{Status: delivery.Permanent, HTTPStatus: 401}}
	p, _, _ := newTest(t, d, &fakeDLQ{}, func(c *Config) { c.DedupeWindow = 10 })
	rec := &kgo.Record{Value: []byte(`{"messageId":"m1",` + leadEvent[1:])}
	for i := 0; i < 2; i++ {
		if out, err := p.Process(context.Background(), rec); err != nil || out.Kind != DeadLettered {
			t.Fatalf("attempt %d: %+v %v", i, out, err)
		}
	}
}
