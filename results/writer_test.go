package results

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pipeline"
)

type scripted struct {
	errs []error // per attempt; nil once exhausted
	recs []*kgo.Record
}

func (s *scripted) ProduceSync(_ context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	var err error
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	if err == nil {
		s.recs = append(s.recs, rs...)
	}
	return kgo.ProduceResults{{Record: rs[0], Err: err}}
}

// The record is keyed like the source and holds what the README documents;
// a failed produce is retried until acknowledged.
func TestWriteRetriesUntilAcknowledged(t *testing.T) {
	p := &scripted{errs: []error{errors.New("down"), errors.New("down")}}
	var failed int
	w, err := NewWriter(Config{Topic: "leads.results", Producer: p, Backoff: time.Millisecond, OnError: func(int, error) { failed++ }})
	if err != nil {
		t.Fatal(err)
	}
	src := &kgo.Record{Topic: "leads", Partition: 2, Offset: 41, Key: []byte("user-1")}
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	if err := w.Write(context.Background(), src, pipeline.Result{MessageID: "m-1", LeadID: "lead_1", ContactID: "cont_1",
		Action: pipeline.ActionUpdated, DeliveredAt: at}); err != nil {
		t.Fatal(err)
	}
	if failed != 2 || len(p.recs) != 1 || p.recs[0].Topic != "leads.results" || string(p.recs[0].Key) != "user-1" {
		t.Fatalf("failed %d, written %+v", failed, p.recs)
	}
	var got map[string]any
	if err := json.Unmarshal(p.recs[0].Value, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"messageId": "m-1", "source_topic": "leads", "source_partition": 2.0, "source_offset": 41.0,
		"lead_id": "lead_1", "contact_id": "cont_1", "action": "updated", "delivered_at": "2026-05-06T06:08:09Z"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (record %s)", k, got[k], v, p.recs[0].Value)
		}
	}
}

// A write that cannot be acknowledged before ctx ends returns ErrStopped.
func TestWriteStopsWithTheContext(t *testing.T) {
	errs := make([]error, 1000)
	for i := range errs {
		errs[i] = errors.New("down")
	}
	w, _ := NewWriter(Config{Topic: "r", Producer: &scripted{errs: errs}, Backoff: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := w.Write(ctx, &kgo.Record{}, pipeline.Result{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("err %v", err)
	}
	if _, err := NewWriter(Config{Producer: &scripted{}}); err == nil {
		t.Fatal("no topic accepted")
	}
}
