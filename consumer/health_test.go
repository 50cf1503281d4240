package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// What readiness and liveness are built on: a member is told of every
// assignment, an empty one included (two members, one partition: one of
// them owns nothing and has joined all the same), and an idle poll loop
// keeps turning every PollTimeout, so OnPoll tells a healthy idle member
// from a wedged one.
func TestEmptyAssignmentAndIdlePollTurns(t *testing.T) {
	b := kafkatest.Start(t)
	topic, group := b.CreateTopic(t, 1), kafkatest.UniqueName(t, "grp")
	type member struct {
		polls       atomic.Int64
		mu          sync.Mutex
		assignments [][]int32
	}
	start := func(m *member) func() {
		c, err := consumer.New(consumer.Config{
			Brokers: b.Brokers, Topic: topic, Group: group,
			Handler:      consumer.HandlerFunc(func(context.Context, *kgo.Record) (bool, error) { return false, nil }),
			PollTimeout:  50 * time.Millisecond,
			OnPoll:       func() { m.polls.Add(1) },
			OnAssignment: func(p []int32) { m.mu.Lock(); m.assignments = append(m.assignments, p); m.mu.Unlock() },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	var a, bm member
	stopA := start(&a)
	defer stopA()
	stopB := start(&bm)
	defer stopB()
	owned := func(m *member) (n int, told bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range m.assignments {
			n += len(p)
		}
		return n, len(m.assignments) > 0
	}
	kafkatest.Eventually(t, "both members told of an assignment, one partition between them", func() string {
		na, ta := owned(&a)
		nb, tb := owned(&bm)
		if !ta || !tb || na+nb != 1 {
			return fmt.Sprintf("a told=%t owns %d, b told=%t owns %d", ta, na, tb, nb)
		}
		return ""
	})
	// Nothing to consume: the loops still turn, again and again.
	pa, pb := a.polls.Load(), bm.polls.Load()
	kafkatest.Eventually(t, "idle poll loops turning", func() string {
		if da, db := a.polls.Load()-pa, bm.polls.Load()-pb; da < 3 || db < 3 {
			return fmt.Sprintf("%d and %d turns since", da, db)
		}
		return ""
	})
}
