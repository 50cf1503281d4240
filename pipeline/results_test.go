package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/delivery"
)

// fakeResults records results; write, if set, decides each call's error.
type fakeResults struct {
	got   []Result
	write func(ctx context.Context) error
}

func (f *fakeResults) Write(ctx context.Context, _ *kgo.Record, r Result) error {
	if f.write != nil {
		if err := f.write(ctx); err != nil {
			return err
		}
	}
	f.got = append(f.got, r)
	return nil
}

const resultEvent = `{"type":"track","event":"Lead Submitted","messageId":"m-1","traits":{"email":"jane@acme.com"},"context":{"consent":{"marketing":true}}}`

// A delivered lead is final only after its result is written, with the
// ids Close returned; a drop or a dead letter writes none.
func TestResultWrittenBeforeDeliveredIsFinal(t *testing.T) {
	res := &fakeResults{}
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	d := &fakeDeliverer{out: delivery.Outcome{Status: delivery.Delivered, HTTPStatus: 200, Attempts: 1, LeadID: "lead_1", ContactID: "cont_1"}}
	p, m, _ := newTest(t, d, &fakeDLQ{}, func(c *Config) { c.Results, c.Now = res, func() time.Time { return now } })
	out, err := p.Process(context.Background(), &kgo.Record{Value: []byte(resultEvent)})
	if err != nil || out.Kind != Delivered {
		t.Fatalf("%+v, %v", out, err)
	}
	want := Result{MessageID: "m-1", LeadID: "lead_1", ContactID: "cont_1", Action: ActionCreated, DeliveredAt: now}
	if len(res.got) != 1 || res.got[0] != want {
		t.Fatalf("results %+v, want [%+v]", res.got, want)
	}
	for _, v := range []string{`{"type":"page"}`, `nope`} {
		if _, err := p.Process(context.Background(), &kgo.Record{Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(res.got) != 1 || m.Delivered != 1 {
		t.Fatalf("a drop or a dead letter wrote a result: %+v", res.got)
	}
}

// A failed result write leaves the record not final (not committed, not
// counted, not remembered as delivered); the lead is then processed again.
func TestFailedResultWriteIsNotFinal(t *testing.T) {
	res := &fakeResults{write: func(context.Context) error { return errors.New("results topic down") }}
	d := &fakeDeliverer{out: delivery.Outcome{Status: delivery.Delivered, HTTPStatus: 200, Attempts: 1, LeadID: "lead_1"}}
	p, m, _ := newTest(t, d, &fakeDLQ{}, func(c *Config) { c.Results, c.DedupeWindow = res, 10 })
	if _, err := p.Handle(context.Background(), &kgo.Record{Value: []byte(resultEvent)}); !errors.Is(err, ErrNotFinal) {
		t.Fatalf("Handle: %v, want ErrNotFinal", err)
	}
	if m.Delivered != 0 {
		t.Fatalf("counted as delivered")
	}
	res.write = nil
	out, err := p.Process(context.Background(), &kgo.Record{Value: []byte(resultEvent)})
	if err != nil || out.Kind != Delivered || d.calls != 2 {
		t.Fatalf("second try: %+v, %v, %d calls (a failed result must not mark the messageId as seen)", out, err, d.calls)
	}
}

// A stop that arrives after Close created the lead does not cut the result
// write off: it gets ResultGrace more, then ends.
func TestResultWriteOutlastsTheStopByTheGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var sawLive, sawEnd bool
	res := &fakeResults{write: func(wctx context.Context) error {
		cancel() // the stop, while the write is under way
		sawLive = wctx.Err() == nil
		<-wctx.Done()
		sawEnd = true
		return wctx.Err()
	}}
	d := &fakeDeliverer{out: delivery.Outcome{Status: delivery.Delivered, HTTPStatus: 200, Attempts: 1, LeadID: "lead_1"}}
	p, _, _ := newTest(t, d, &fakeDLQ{}, func(c *Config) { c.Results, c.ResultGrace = res, 50*time.Millisecond })
	start := time.Now()
	_, err := p.Process(ctx, &kgo.Record{Value: []byte(resultEvent)})
	if !sawLive || !sawEnd || !errors.Is(err, ErrNotFinal) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("live after the stop %t, ended %t, err %v after %s", sawLive, sawEnd, err, time.Since(start))
	}
}
