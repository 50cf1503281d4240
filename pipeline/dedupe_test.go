package pipeline

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/delivery"
)

func leadWithID(id string, partition int32) *kgo.Record {
	return &kgo.Record{Partition: partition, Value: []byte(`{"messageId":"` + id + `",` + leadEvent[1:])}
}

// A replay's window covers every DLQ partition: copies of one event on two
// partitions become one lead.
func TestDedupeAcrossPartitions(t *testing.T) {
	d := &fakeDeliverer{out: delivery.Outcome{Status: delivery.Delivered, HTTPStatus: 200}}
	p, _, _ := newTest(t, d, &fakeDLQ{}, func(c *Config) { c.DedupeWindow = 10; c.DedupeAcrossPartitions = true })
	for part := range int32(3) {
		if _, err := p.Process(context.Background(), leadWithID("m1", part)); err != nil {
			t.Fatal(err)
		}
	}
	if d.calls != 1 {
		t.Fatalf("Close called %d times for one messageId on three partitions, want 1", d.calls)
	}
}

// A revoked partition's window is dropped; the others stay.
func TestForgetPartitions(t *testing.T) {
	d := &fakeDeliverer{out: delivery.Outcome{Status: delivery.Delivered, HTTPStatus: 200}}
	p, _, _ := newTest(t, d, &fakeDLQ{}, func(c *Config) { c.DedupeWindow = 10 })
	for _, rec := range []*kgo.Record{leadWithID("a", 0), leadWithID("b", 1)} {
		if _, err := p.Process(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	p.ForgetPartitions([]int32{0})
	if n := len(p.seen.by); n != 1 || p.seen.by[1] == nil {
		t.Fatalf("windows after forgetting partition 0: %d (partition 1 kept: %v)", n, p.seen.by[1] != nil)
	}
	for _, rec := range []*kgo.Record{leadWithID("a", 0), leadWithID("b", 1)} {
		if _, err := p.Process(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if d.calls != 3 {
		t.Fatalf("Close called %d times, want 3 (a again after its window was dropped; b remembered)", d.calls)
	}
}
