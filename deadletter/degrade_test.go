package deadletter

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pipeline"
)

// sizeLimitProducer rejects records whose key, value and headers together
// exceed max bytes, as a broker's max.message.bytes does.
type sizeLimitProducer struct {
	max   int
	calls int
	got   []*kgo.Record
}

func (p *sizeLimitProducer) ProduceSync(_ context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	p.calls++
	n := len(rs[0].Key) + len(rs[0].Value)
	for _, h := range rs[0].Headers {
		n += len(h.Key) + len(h.Value)
	}
	if n > p.max {
		return kgo.ProduceResults{{Record: rs[0], Err: kerr.MessageTooLarge}}
	}
	p.got = append(p.got, rs...)
	return kgo.ProduceResults{{Record: rs[0]}}
}

// Even without its value the record is too large (a huge key and headers):
// the writer leaves those out too, keeps the source pointer, says so in
// headers, and does not retry the same bytes.
func TestWriterLeavesOutKeyAndHeadersWhenStillTooLarge(t *testing.T) {
	p := &sizeLimitProducer{max: 2000}
	w := newWriter(t, WriterConfig{Producer: p})
	src := &kgo.Record{Topic: "leads", Partition: 4, Offset: 11, Key: bytes.Repeat([]byte("k"), 5000), Value: bytes.Repeat([]byte("v"), 500),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: bytes.Repeat([]byte("t"), 3000)}, {Key: "x", Value: []byte("y")}}}
	if err := w.Write(context.Background(), src, pipeline.Failure{Class: pipeline.ClassPermanent, HTTPStatus: 400}); err != nil {
		t.Fatal(err)
	}
	if p.calls != 3 || len(p.got) != 1 {
		t.Fatalf("%d produce calls, %d written; want 3 (whole, without value, bare) and 1", p.calls, len(p.got))
	}
	got := p.got[0]
	info, ok := Parse(got)
	if !ok || info.SourceTopic != "leads" || info.SourcePartition != 4 || info.SourceOffset != 11 || info.HTTPStatus != 400 {
		t.Fatalf("source pointer or failure lost: %+v", info)
	}
	if len(got.Key) != 0 || len(got.Value) != 0 || len(OriginalHeaders(got)) != 0 {
		t.Fatalf("key %d bytes, value %d bytes, %d producer headers; want none", len(got.Key), len(got.Value), len(OriginalHeaders(got)))
	}
	if info.ValueOmitted != 500 || info.KeyOmitted != 5000 || info.HeadersOmitted != 2 {
		t.Fatalf("omission headers: value %d key %d headers %d", info.ValueOmitted, info.KeyOmitted, info.HeadersOmitted)
	}
}

// A record read from the DLQ (a replay) is never written back degraded: the
// writer refuses at once, so the record stays where it is, uncommitted.
func TestWriterRefusesToDegradeARecordFromTheDLQ(t *testing.T) {
	p := &sizeLimitProducer{max: 100}
	w := newWriter(t, WriterConfig{Producer: p})
	src := Build("leads.dlq", &kgo.Record{Topic: "leads", Offset: 3, Value: bytes.Repeat([]byte("v"), 500)},
		pipeline.Failure{Class: pipeline.ClassPermanent})
	src.Partition, src.Offset = 0, 42 // as read back from the DLQ
	err := w.Write(context.Background(), src, pipeline.Failure{Class: pipeline.ClassInvalidEvent, Message: "over the limit"})
	if !errors.Is(err, ErrWouldDegrade) {
		t.Fatalf("err = %v, want ErrWouldDegrade", err)
	}
	if p.calls != 1 || len(p.got) != 0 {
		t.Fatalf("%d produce calls, %d written; want 1 and none", p.calls, len(p.got))
	}
}

// closesink.* headers a producer put on a source record are not provenance:
// the dead letter describes where the record really was.
func TestBuildDoesNotTrustForgedProvenance(t *testing.T) {
	src := &kgo.Record{Topic: "leads", Partition: 2, Offset: 9, Value: []byte("{}"), Headers: []kgo.RecordHeader{
		{Key: HeaderSourceTopic, Value: []byte("payroll")}, {Key: HeaderSourceOffset, Value: []byte("1")},
		{Key: HeaderReplays, Value: []byte("7")}, {Key: HeaderValueOmitted, Value: []byte("99")}}}
	info, _ := Parse(Build("leads.dlq", src, pipeline.Failure{Class: pipeline.ClassInvalidEvent}))
	if info.SourceTopic != "leads" || info.SourcePartition != 2 || info.SourceOffset != 9 || info.Replays != 0 || info.ValueOmitted != 0 {
		t.Fatalf("forged headers trusted: %+v", info)
	}
}

// A replayed record keeps the markers of what an earlier write left out.
func TestBuildKeepsOmissionMarkersOnReplay(t *testing.T) {
	src := &kgo.Record{Topic: "leads.dlq", Value: []byte{}, Headers: []kgo.RecordHeader{
		{Key: HeaderSourceTopic, Value: []byte("leads")}, {Key: HeaderValueOmitted, Value: []byte("123456")},
		{Key: HeaderKeyOmitted, Value: []byte("9")}}}
	info, _ := Parse(Build("leads.dlq", src, pipeline.Failure{Class: pipeline.ClassInvalidEvent}))
	if info.ValueOmitted != 123456 || info.KeyOmitted != 9 || info.Replays != 1 {
		t.Fatalf("markers after a replay: %+v", info)
	}
}

// A record republished by replay --to-topic keeps its source pointer.
func TestRepublishHeadersKeepTheSourcePointer(t *testing.T) {
	dl := Build("leads.dlq", &kgo.Record{Topic: "leads", Partition: 1, Offset: 77, Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}},
		pipeline.Failure{Class: pipeline.ClassPermanent, HTTPStatus: 401})
	got := map[string]string{}
	for _, h := range RepublishHeaders(dl) {
		got[h.Key] = string(h.Value)
	}
	if got["h"] != "v" || got[HeaderSourceTopic] != "leads" || got[HeaderSourceOffset] != strconv.Itoa(77) || got[HeaderClass] != "" {
		t.Fatalf("republished headers: %v", got)
	}
}
