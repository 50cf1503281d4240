package service_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
)

// afterCreate are the faults that make Close create a lead and then fail
// the answer: the real cause of duplicate leads. Every create is slow to
// answer (so rebalances and stops find creates on the wire) and a seeded
// share is answered 502 or cut off, so closesink retries and Close holds a
// second lead that only the abandoned request explains. The 502 sets them
// apart from the 503s tests inject before a create (explainDuplicates).
func afterCreate(latency time.Duration) closeemu.Faults {
	return closeemu.Faults{LatencyAfterCreate: latency, ErrorAfterCreateRate: 0.3, DropAfterCreateRate: 0.1,
		ErrorStatus: http.StatusBadGateway, Seed: 3}
}

// A second member joins while the first is retrying a lead on every
// partition, and Close creates leads before failing some answers. Whatever
// the balancer moves, no lead is lost, the interrupted retries are finished
// by the new owner, no partition's commits interleave between owners or go
// backwards, and no duplicate lead is owed to the rebalance: each is
// explained by a request abandoned after its create.
func TestRebalanceDuringRetryLosesNothing(t *testing.T) {
	h := newHarness(t, 4, 1, closeemu.Config{})
	stuck := map[string]int{}
	for p := int32(0); p < 4; p++ {
		email := fmt.Sprintf("stuck%d@x.com", p)
		stuck[email] = 503 // before any create: never a lead
		h.produce(p, lead(fmt.Sprintf("before%d@x.com", p)), lead(email), lead(fmt.Sprintf("after%d@x.com", p)))
	}
	faults := afterCreate(20 * time.Millisecond)
	faults.StatusForEmail = stuck
	h.emu.SetFaults(faults)
	h.start(memberOpts{name: "a"}) // retries forever (MaxRetryDuration 0)
	eventually(t, "every partition retrying its stuck lead", func() string {
		if s := h.emu.Stats(); s.ByStatus[503] < 8 || s.Created-s.AbandonedAfterCreate < 4 {
			return fmt.Sprintf("503s=%d created=%d abandoned=%d", s.ByStatus[503], s.Created, s.AbandonedAfterCreate)
		}
		return ""
	})
	var bOwns atomic.Bool
	h.start(memberOpts{name: "b", opts: service.Options{OnRebalance: func(event string, _ []int32) { bOwns.Store(event == "assigned") }}})
	eventually(t, "second member owns partitions", func() string {
		if !bOwns.Load() {
			return "nothing assigned to b"
		}
		return ""
	})
	h.emu.SetFaults(afterCreate(20 * time.Millisecond)) // the stuck leads now reach Close
	eventually(t, "offsets committed", h.lag)
	emails := h.createdEmails()
	for p := 0; p < 4; p++ {
		for _, kind := range []string{"before", "stuck", "after"} {
			if e := fmt.Sprintf("%s%d@x.com", kind, p); emails[e] == 0 {
				t.Errorf("%s lost", e)
			}
		}
	}
	if r := h.checkDuplicatesExplained(); r.leads != 12 || r.abandoned == 0 {
		t.Errorf("%d distinct leads (want 12), %d abandoned after create (want some: the faults must strike)", r.leads, r.abandoned)
	}
	if msg := h.commitLog.check(); msg != "" {
		t.Fatal(msg)
	}
}

// A graceful stop while creates are on the wire lets them finish and
// commits their outcome: after a restart the only duplicate leads are those
// Close answered 502 after creating them, and the stop cut no request off.
func TestGracefulShutdownWithRequestsInFlight(t *testing.T) {
	h := newHarness(t, 2, 1, closeemu.Config{})
	h.emu.SetFaults(closeemu.Faults{LatencyAfterCreate: 300 * time.Millisecond, ErrorAfterCreateRate: 0.3,
		ErrorStatus: http.StatusBadGateway, Seed: 3})
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 5; i++ {
			h.produce(p, lead(fmt.Sprintf("p%d-%d@x.com", p, i)))
		}
	}
	a := h.start(memberOpts{name: "a"})
	eventually(t, "creates in flight on both partitions", func() string {
		s := h.emu.Stats()
		if inFlight := s.Requests - responses(s); inFlight < 2 || s.Created < 2 {
			return fmt.Sprintf("%d in flight, %d created", inFlight, s.Created)
		}
		return ""
	})
	a.stop(t)
	for _, c := range h.front.wire.snapshot() {
		if !c.ended || c.status == 0 {
			t.Errorf("the stop cut off the create of %s (answered %d, ended %t): a graceful stop must let it finish", c.email, c.status, c.ended)
		}
	}
	h.start(memberOpts{name: "b"})
	eventually(t, "offsets committed", h.lag)
	if r := h.checkDuplicatesExplained(); r.leads != 10 || r.unanswered != 0 || r.errored == 0 {
		t.Fatalf("%d distinct leads (want 10); %d creates cut off unanswered (want 0), %d answered 502 (want some)",
			r.leads, r.unanswered, r.errored)
	}
}

func responses(s closeemu.Stats) int {
	n := 0
	for _, c := range s.ByStatus {
		n += c
	}
	return n
}

// A restarted member resumes from the committed offsets: nothing is sent
// twice and the records produced while it was down are delivered.
func TestRestartResumesFromCommittedOffsets(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.produce(0, lead("1@x.com"), lead("2@x.com"), `{"type":"page"}`)
	a := h.start(memberOpts{name: "a"})
	eventually(t, "first batch committed", h.lag)
	a.stop(t)
	if c := h.at(0); c != 3 {
		t.Fatalf("committed %d after stop, want 3", c)
	}
	h.produce(0, lead("3@x.com"), lead("4@x.com"))
	h.start(memberOpts{name: "b"})
	eventually(t, "second batch committed", h.lag)
	emails := h.createdEmails()
	for i := 1; i <= 4; i++ {
		if e := fmt.Sprintf("%d@x.com", i); emails[e] != 1 {
			t.Errorf("%s created %d times", e, emails[e])
		}
	}
	if msg := h.commitLog.check(); msg != "" {
		t.Fatal(msg)
	}
}

// A request that outlives the shutdown timeout is aborted: the stop returns
// promptly and the record stays uncommitted, so the next start delivers it.
// Close created the lead before the abort (LatencyAfterCreate), so the
// second lead is the one duplicate a stop may cause, and exactly the one
// the emulator counts as abandoned after its create.
func TestShutdownTimeoutAbortsAndLeavesRecordUncommitted(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.emu.SetFaults(closeemu.Faults{LatencyAfterCreate: time.Minute})
	h.produce(0, lead("slow@x.com"))
	a := h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.ShutdownTimeout = 200 * time.Millisecond }})
	eventually(t, "create in flight", func() string {
		if s := h.emu.Stats(); s.Created < 1 || s.Requests-responses(s) < 1 {
			return "nothing created and in flight"
		}
		return ""
	})
	began := time.Now()
	a.stop(t)
	// The stop takes the 200ms timeout plus the abort. 10s is a bound for
	// a hung stop, not a speed test: measured under -race on 2 loaded cores
	// (run alongside the rest of the package) it stays below 1s.
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("stop took %s with a 200ms shutdown timeout", took)
	}
	if c := h.at(0); c > 0 {
		t.Fatalf("aborted record committed (offset %d)", c)
	}
	h.emu.SetFaults(closeemu.Faults{})
	h.start(memberOpts{name: "b"})
	eventually(t, "offsets committed", h.lag)
	if r := h.checkDuplicatesExplained(); r.leads != 1 || r.abandoned != 1 {
		t.Fatalf("%d leads, %d abandoned after create; want the aborted create as the one abandoned duplicate", r.leads, r.abandoned)
	}
}
