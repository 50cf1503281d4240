package service_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/pkg/closeemu"
)

// A partition whose handler is stuck (Close slow, retries) must not hold up
// the others: its fetches are paused once MaxBuffered records wait, and the
// other partition is processed and committed to its end meanwhile.
//
// This one runs the consumer alone, with a handler of its own, not
// service.Run: it needs MaxBuffered and CommitEvery far below the service's
// defaults and the consumer's client to see which partitions are paused,
// and service.Options offers neither.
func TestSlowPartitionDoesNotBlockOthers(t *testing.T) {
	h := newHarness(t, 2, 1, closeemu.Config{})
	const n = 60
	for p := int32(0); p < 2; p++ {
		vals := make([]string, n)
		for i := range vals {
			vals[i] = fmt.Sprintf("p%d-%d", p, i)
		}
		h.produce(p, vals...)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var handled [2][]string // each partition's record values, in the order handled
	handler := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (bool, error) {
		if r.Partition == 0 {
			select {
			case <-release:
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		mu.Lock()
		handled[r.Partition] = append(handled[r.Partition], string(r.Value))
		mu.Unlock()
		return false, nil
	})
	c, err := consumer.New(consumer.Config{
		Brokers: h.b.Brokers, Topic: h.topic, Group: h.group, Handler: handler,
		Logger: zaptest.NewLogger(t), MaxBuffered: 5, CommitEvery: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(ctx) }()
	defer func() { cancel(); <-runDone }()

	eventually(t, "partition 1 committed to its end while partition 0 is stuck", func() string {
		if got := h.at(1); got != n {
			return fmt.Sprintf("p1 committed %d", got)
		}
		return ""
	})
	mu.Lock()
	stuck := len(handled[0])
	mu.Unlock()
	if stuck != 0 {
		t.Fatalf("partition 0 processed %d records while stuck", stuck)
	}
	if c := h.at(0); c > 0 {
		t.Fatalf("partition 0 committed %d while nothing was final", c)
	}
	if paused := c.Client().PauseFetchPartitions(nil); len(paused[h.topic]) != 1 || paused[h.topic][0] != 0 {
		t.Fatalf("paused partitions = %v, want only partition 0", paused)
	}
	close(release)
	eventually(t, "everything committed", h.lag)
	mu.Lock()
	defer mu.Unlock()
	for p := range handled {
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("p%d-%d", p, i)
		}
		if !slices.Equal(handled[p], want) {
			t.Fatalf("partition %d handled %v, want each of its %d records once, in order: %v", p, handled[p], n, want)
		}
	}
	if paused := c.Client().PauseFetchPartitions(nil); len(paused[h.topic]) != 0 {
		t.Fatalf("partition still paused after draining: %v", paused)
	}
}
