package service_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// A producer's repeat of one event (same messageId) was dead-lettered twice,
// and the two copies sit on different DLQ partitions: the replay's messageId
// window spans every DLQ partition, so Close gets one lead, not two.
func TestHardeningReplayDedupesAcrossDLQPartitions(t *testing.T) {
	h := newHarness(t, 2, 2, closeemu.Config{})
	f := pipeline.Failure{Class: pipeline.ClassPermanent, HTTPStatus: 401, Message: "Unauthorized", Attempts: 1, FailedAt: time.Now()}
	deadAt := func(dlqPartition, srcPartition int32, srcOffset int64, email string) *kgo.Record {
		src := &kgo.Record{Topic: h.topic, Partition: srcPartition, Offset: srcOffset, Key: []byte(email),
			Value: []byte(lead(email)), Timestamp: time.Now()}
		r := deadletter.Build(h.dlq, src, f)
		r.Partition = dlqPartition
		return r
	}
	kafkatest.Produce(t, h.producer,
		deadAt(0, 0, 10, "repeat@x.com"), // the event
		deadAt(0, 0, 11, "a@x.com"),
		deadAt(1, 1, 40, "b@x.com"),
		deadAt(1, 1, 41, "repeat@x.com"), // its repeat, from another source partition
	)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	s, err := h.replayCtx(ctx, service.ReplayOptions{}, func(c *config.Config) { c.DedupeWindow = 100 })
	if err != nil {
		t.Fatalf("replay: %v (summary %+v)", err, s)
	}
	if s.Read != 4 || s.Delivered != 3 || s.Dropped != 1 || s.DeadLettered != 0 || !s.ReachedEnd {
		t.Fatalf("summary %+v: want 3 delivered and the repeat dropped", s)
	}
	if got := h.createdEmails(); !reflect.DeepEqual(got, map[string]int{"repeat@x.com": 1, "a@x.com": 1, "b@x.com": 1}) {
		t.Fatalf("created %v: the repeated event must become one lead", got)
	}
	if got, ends := h.committed(h.replayGroup, h.dlq), h.ends(h.dlq); !reflect.DeepEqual(got, ends) {
		t.Fatalf("replay group committed %v, want the DLQ end offsets %v", got, ends)
	}
}
