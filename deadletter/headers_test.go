package deadletter

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pipeline"
)

func header(rec *kgo.Record, key string) (string, bool) {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestBuildCopiesOriginalAndAddsContract(t *testing.T) {
	ts := time.Date(2026, 11, 25, 14, 30, 0, 0, time.UTC)
	failed := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	src := &kgo.Record{
		Topic: "leads", Partition: 3, Offset: 42, Timestamp: ts,
		Key: []byte("user-123"), Value: []byte(`{"type":"track"}`),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}},
	}
	out := Build("leads.dlq", src, pipeline.Failure{Class: pipeline.ClassPermanent, HTTPStatus: 401, Message: "Unauthorized", Attempts: 1, FailedAt: failed})
	if out.Topic != "leads.dlq" || string(out.Key) != "user-123" || string(out.Value) != `{"type":"track"}` {
		t.Fatalf("key/value/topic not copied: %+v", out)
	}
	if out.Headers[0].Key != "trace" || string(out.Headers[0].Value) != "abc" {
		t.Fatalf("original header not first/unchanged: %+v", out.Headers)
	}
	want := map[string]string{
		HeaderClass: "permanent", HeaderStatus: "401", HeaderMessage: "Unauthorized",
		HeaderSourceTopic: "leads", HeaderSourcePartition: "3", HeaderSourceOffset: "42",
		HeaderSourceTimestamp: "2026-11-25T14:30:00Z", HeaderAttempts: "1", HeaderFailedAt: "2026-11-29T10:00:00Z",
	}
	for k, v := range want {
		if got, ok := header(out, k); !ok || got != v {
			t.Errorf("header %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	if _, ok := header(out, HeaderReplays); ok {
		t.Errorf("replays header must be absent on first dead-lettering")
	}
	if len(src.Headers) != 1 {
		t.Fatalf("Build modified the source record's headers")
	}
	info, ok := Parse(out)
	if !ok || info.Class != pipeline.ClassPermanent || info.HTTPStatus != 401 || info.SourceOffset != 42 ||
		info.SourcePartition != 3 || !info.SourceTimestamp.Equal(ts) || !info.FailedAt.Equal(failed) || info.Replays != 0 {
		t.Fatalf("Parse round trip: %+v ok=%v", info, ok)
	}
}

func TestBuildReplayKeepsSourceAndCountsReplays(t *testing.T) {
	src := &kgo.Record{Topic: "leads", Partition: 1, Offset: 7, Timestamp: time.Unix(100, 0), Value: []byte("{}"),
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
	first := Build("leads.dlq", src, pipeline.Failure{Class: pipeline.ClassPermanent, HTTPStatus: 401, Message: "Unauthorized", Attempts: 1})
	// As read back from the DLQ topic: its own position differs from the source.
	first.Topic, first.Partition, first.Offset = "leads.dlq", 0, 99
	second := Build("leads.dlq", first, pipeline.Failure{Class: pipeline.ClassRetriesExhausted, HTTPStatus: 503, Message: "unavailable", Attempts: 5})
	info, ok := Parse(second)
	if !ok || info.SourceTopic != "leads" || info.SourcePartition != 1 || info.SourceOffset != 7 {
		t.Fatalf("source headers not kept on replay: %+v", info)
	}
	if info.Replays != 1 || info.Class != pipeline.ClassRetriesExhausted || info.HTTPStatus != 503 || info.Attempts != 5 {
		t.Fatalf("replay failure headers wrong: %+v", info)
	}
	third := Build("leads.dlq", second, pipeline.Failure{Class: pipeline.ClassInvalidEvent, Message: "bad"})
	info, _ = Parse(third)
	if info.Replays != 2 || info.HTTPStatus != 0 {
		t.Fatalf("second replay: %+v", info)
	}
	if _, has := header(third, HeaderStatus); has {
		t.Fatalf("stale status header kept")
	}
	n := 0
	for _, h := range third.Headers {
		if h.Key == HeaderClass {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("class header appears %d times", n)
	}
	if got := OriginalHeaders(third); len(got) != 1 || got[0].Key != "h" {
		t.Fatalf("original headers: %+v", got)
	}
}

func TestBuildTruncatesMessageAtRuneBoundary(t *testing.T) {
	msg := strings.Repeat("é", 600) + "\xff" // 1200 bytes of 2-byte runes plus invalid UTF-8
	out := Build("d", &kgo.Record{}, pipeline.Failure{Class: pipeline.ClassPermanent, Message: msg})
	got, _ := header(out, HeaderMessage)
	if len(got) > MaxMessageBytes || !strings.HasPrefix(msg, got) || len(got) < MaxMessageBytes-1 {
		t.Fatalf("message len %d not cut at rune boundary within %d bytes", len(got), MaxMessageBytes)
	}
}

func TestParseClass(t *testing.T) {
	for _, s := range []string{"permanent", "retries_exhausted", " invalid_event "} {
		if _, err := pipeline.ParseClass(s); err != nil {
			t.Errorf("pipeline.ParseClass(%q): %v", s, err)
		}
	}
	if _, err := pipeline.ParseClass("nope"); err == nil {
		t.Error("ParseClass accepted an unknown class")
	}
}

type flakyProducer struct {
	fails atomic.Int32 // fail this many times, then succeed
	calls atomic.Int32
	got   []*kgo.Record
}

func (p *flakyProducer) ProduceSync(_ context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	p.calls.Add(1)
	if p.fails.Add(-1) >= 0 {
		return kgo.ProduceResults{{Record: rs[0], Err: errors.New("broker down")}}
	}
	p.got = append(p.got, rs...)
	return kgo.ProduceResults{{Record: rs[0]}}
}

func TestWriterRetriesUntilAcknowledged(t *testing.T) {
	p := &flakyProducer{}
	p.fails.Store(3)
	var errs int
	w := newWriter(t, WriterConfig{Producer: p, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
		OnError: func(int, error) { errs++ }})
	if err := w.Write(context.Background(), &kgo.Record{Topic: "leads"}, pipeline.Failure{Class: pipeline.ClassPermanent}); err != nil {
		t.Fatal(err)
	}
	if p.calls.Load() != 4 || errs != 3 || len(p.got) != 1 || p.got[0].Topic != "leads.dlq" {
		t.Fatalf("calls=%d errs=%d got=%d", p.calls.Load(), errs, len(p.got))
	}
}

func TestWriterStopsOnContextWithoutSkipping(t *testing.T) {
	p := &flakyProducer{}
	p.fails.Store(1 << 30)
	ctx, cancel := context.WithCancel(context.Background())
	// Backoff: the cancel must end the wait, not the timer.
	w := newWriter(t, WriterConfig{Producer: p, Backoff: time.Hour, OnError: func(int, error) { cancel() }})
	start := time.Now()
	err := w.Write(ctx, &kgo.Record{}, pipeline.Failure{Class: pipeline.ClassPermanent})
	if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "broker down") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("cancel did not end the backoff wait promptly")
	}
}

// tooLargeProducer rejects values over max bytes the way a broker does.
type tooLargeProducer struct {
	max int
	got []*kgo.Record
}

func (p *tooLargeProducer) ProduceSync(_ context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	if len(rs[0].Value) > p.max {
		return kgo.ProduceResults{{Record: rs[0], Err: kerr.MessageTooLarge}}
	}
	p.got = append(p.got, rs...)
	return kgo.ProduceResults{{Record: rs[0]}}
}

func TestWriterLeavesOutAValueTooLargeForTheDLQ(t *testing.T) {
	p := &tooLargeProducer{max: 100}
	// Backoff: no wait is expected, the smaller record goes at once.
	w := newWriter(t, WriterConfig{Producer: p, Backoff: time.Hour})
	src := &kgo.Record{Topic: "leads", Partition: 2, Offset: 9, Key: []byte("k"), Value: bytes.Repeat([]byte("x"), 500)}
	if err := w.Write(context.Background(), src, pipeline.Failure{Class: pipeline.ClassInvalidEvent, Message: "not JSON"}); err != nil {
		t.Fatal(err)
	}
	if len(p.got) != 1 {
		t.Fatalf("%d records written", len(p.got))
	}
	got := p.got[0]
	if got.Value == nil || len(got.Value) != 0 || string(got.Key) != "k" {
		t.Fatalf("value %q (nil=%v) key %q", got.Value, got.Value == nil, got.Key)
	}
	if v, _ := header(got, HeaderValueOmitted); v != "500" {
		t.Fatalf("%s = %q", HeaderValueOmitted, v)
	}
	info, _ := Parse(got)
	if info.SourceOffset != 9 || info.SourcePartition != 2 || !strings.Contains(info.Message, "500 bytes left out") || !strings.Contains(info.Message, "not JSON") {
		t.Fatalf("info %+v", info)
	}
}

// newWriter builds a writer to leads.dlq.
func newWriter(t *testing.T, cfg WriterConfig) *Writer {
	t.Helper()
	cfg.Topic = "leads.dlq"
	w, err := NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
