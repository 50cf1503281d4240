package service_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
)

// Members join and leave (gracefully) while leads flow through a flaky,
// slow Close. Graceful ownership changes must cost nothing: every lead is
// created exactly once, every offset is committed, and no partition's
// commits interleave between owners or go backwards.
func TestMembershipChurnCreatesEveryLeadOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("churn test: several rebalances")
	}
	h := newHarness(t, 6, 1, closeemu.Config{})
	h.emu.SetFaults(closeemu.Faults{ErrorRate: 0.2, Seed: 7, Latency: 3 * time.Millisecond})
	start := time.Now()
	defer func() { t.Logf("churn over %d leads took %s", 6*20, time.Since(start)) }()
	const perPartition = 20
	for p := int32(0); p < 6; p++ {
		vals := make([]string, perPartition)
		for i := range vals {
			vals[i] = lead(fmt.Sprintf("p%d-%d@x.com", p, i))
		}
		h.produce(p, vals...)
	}
	created := func() int { return h.emu.Stats().Created }
	atLeast := func(n int) func() string {
		return func() string {
			if c := created(); c < n {
				return fmt.Sprintf("%d leads created", c)
			}
			return ""
		}
	}
	var mu sync.Mutex
	owned := map[string]bool{} // members that were assigned partitions
	member := func(name string) memberOpts {
		// A group budget of 30 requests/s paces the 120 leads (and the
		// retries of injected 503s) over several seconds, so the membership
		// changes below happen mid-stream (checked after a leaves).
		// The service splits it by the topic's 6 partitions.
		return memberOpts{name: name, cfg: func(c *config.Config) { c.Rate = 30 }, opts: service.Options{
			OnRebalance: func(event string, _ []int32) {
				mu.Lock()
				defer mu.Unlock()
				owned[name] = owned[name] || event == "assigned"
			}}}
	}
	owns := func(name string, n int) func() string {
		return func() string {
			mu.Lock()
			ok := owned[name]
			mu.Unlock()
			if !ok {
				return name + " owns nothing yet"
			}
			return atLeast(n)()
		}
	}
	a := h.start(member("a"))
	eventually(t, "a under way", owns("a", 20))
	b := h.start(member("b"))
	eventually(t, "b owns partitions", owns("b", 40))
	c := h.start(member("c"))
	eventually(t, "c owns partitions", owns("c", 60))
	a.stop(t) // its partitions move to b and c mid-stream
	if n := created(); n >= 6*perPartition {
		t.Fatalf("all leads created before the churn was over (%d): the test no longer churns mid-stream", n)
	}
	d := h.start(member("d"))
	eventually(t, "d owns partitions", owns("d", 0))
	b.stop(t)
	eventually(t, "offsets committed", h.lag)
	c.stop(t)
	d.stop(t)

	emails := h.createdEmails()
	if len(emails) != 6*perPartition {
		t.Errorf("%d distinct leads, want %d", len(emails), 6*perPartition)
	}
	for e, n := range emails {
		if n != 1 {
			t.Errorf("%s created %d times", e, n)
		}
	}
	if msg := h.commitLog.check(); msg != "" {
		t.Fatal(msg)
	}
}
