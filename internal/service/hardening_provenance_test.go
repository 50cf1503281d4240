package service_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// A source record whose producer set closesink's provenance headers
// (closesink.source.*, closesink.replays) and that gets dead-lettered lands
// in the DLQ with its true position and no replay count: provenance comes
// from where the record was consumed, never from what it claims.
func TestHardeningForgedProvenanceIsNotTrusted(t *testing.T) {
	h := newHarness(t, 2, 1, closeemu.Config{})
	forged := []kgo.RecordHeader{
		{Key: "trace", Value: []byte("t-1")}, // the producer's own: kept
		{Key: deadletter.HeaderSourceTopic, Value: []byte("elsewhere")},
		{Key: deadletter.HeaderSourcePartition, Value: []byte("7")},
		{Key: deadletter.HeaderSourceOffset, Value: []byte("999")},
		{Key: deadletter.HeaderSourceTimestamp, Value: []byte("2001-01-01T00:00:00Z")},
		{Key: deadletter.HeaderReplays, Value: []byte("5")},
		{Key: deadletter.HeaderClass, Value: []byte("permanent")},
	}
	h.produce(1, lead("a@x.com"), `{"type":"page"}`) // offsets 0, 1
	kafkatest.Produce(t, h.producer, &kgo.Record{Topic: h.topic, Partition: 1, Key: []byte("k"),
		Value: []byte("not json"), Headers: forged}) // offset 2
	h.start(memberOpts{name: "a"})
	eventually(t, "offsets committed", h.lag)

	r := h.readDLQ(1)[0]
	want := map[string]string{
		"trace":                          "t-1",
		deadletter.HeaderSourceTopic:     h.topic,
		deadletter.HeaderSourcePartition: "1",
		deadletter.HeaderSourceOffset:    "2",
		deadletter.HeaderClass:           "invalid_event",
		deadletter.HeaderReplays:         "",
	}
	for k, v := range want {
		if got := header(r, k); got != v {
			t.Errorf("DLQ record %s = %q, want %q", k, got, v)
		}
	}
	if ts := header(r, deadletter.HeaderSourceTimestamp); strings.HasPrefix(ts, "2001") || ts == "" {
		t.Errorf("source timestamp %q is not the record's", ts)
	}
	seen := map[string]int{}
	for _, hd := range r.Headers {
		seen[hd.Key]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("header %s appears %d times: %v", k, n, fmt.Sprint(r.Headers))
		}
	}
	if string(r.Value) != "not json" || string(r.Key) != "k" {
		t.Errorf("DLQ record key %q value %q", r.Key, r.Value)
	}
	if e := h.createdEmails(); len(e) != 1 || e["a@x.com"] != 1 {
		t.Errorf("created %v", e)
	}
}
