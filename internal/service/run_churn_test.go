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
// slow Close that creates leads and then fails some answers (502 or a cut
// connection: afterCreate) besides failing some requests before any create
// (503). Graceful ownership changes must cost nothing: every lead is
// created, each extra lead is explained by a request abandoned after its
// create (none by a handover), every offset is committed, and no
// partition's commits interleave between owners or go backwards.
func TestMembershipChurnCreatesEveryLeadOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("churn test: several rebalances")
	}
	h := newHarness(t, 6, 1, closeemu.Config{})
	// Every create waits 100ms for its answer, so each handover finds
	// creates on the wire on the partitions it moves.
	faults := afterCreate(100 * time.Millisecond)
	faults.ErrorAfterCreateRate, faults.DropAfterCreateRate = 0.1, 0.05
	for i := 0; i < 60; i += 7 {
		faults.Script = append(faults.Script, 503, 0, 0, 0, 0, 0, 0) // a 503 before the create: no lead
	}
	h.emu.SetFaults(faults)
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
	created := func() int { s := h.emu.Stats(); return s.Created - s.AbandonedAfterCreate } // acknowledged
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
		// A group budget of 20 requests/s paces the 120 leads (and the
		// retries of injected 503s) over several seconds, so the membership
		// changes below happen mid-stream (checked after a leaves).
		// The service splits it by the topic's 6 partitions.
		return memberOpts{name: name, cfg: func(c *config.Config) { c.Rate = 20 }, opts: service.Options{
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

	if r := h.checkDuplicatesExplained(); r.leads != 6*perPartition || r.errored == 0 || r.unanswered == 0 {
		t.Errorf("%d distinct leads (want %d); abandoned after create: %d 502s, %d unanswered (want both: the faults must strike)",
			r.leads, 6*perPartition, r.errored, r.unanswered)
	}
	if msg := h.commitLog.check(); msg != "" {
		t.Fatal(msg)
	}
}
