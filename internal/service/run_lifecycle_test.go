package service_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
)

// A second member joins while the first is retrying a lead on every
// partition. Whatever the balancer moves, no lead is lost, the interrupted
// retries are finished by the new owner, and no partition's commits
// interleave between owners or go backwards.
func TestRebalanceDuringRetryLosesNothing(t *testing.T) {
	h := newHarness(t, 4, 1, closeemu.Config{})
	stuck := map[string]int{}
	for p := int32(0); p < 4; p++ {
		email := fmt.Sprintf("stuck%d@x.com", p)
		stuck[email] = 503
		h.produce(p, lead(fmt.Sprintf("before%d@x.com", p)), lead(email), lead(fmt.Sprintf("after%d@x.com", p)))
	}
	h.emu.SetFaults(closeemu.Faults{StatusForEmail: stuck})
	h.start(memberOpts{name: "a"}) // retries forever (MaxRetryDuration 0)
	eventually(t, "every partition retrying its stuck lead", func() string {
		if s := h.emu.Stats(); s.ByStatus[503] < 8 || s.Created < 4 {
			return fmt.Sprintf("503s=%d created=%d", s.ByStatus[503], s.Created)
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
	h.emu.SetFaults(closeemu.Faults{}) // Close recovers: every retry now succeeds
	eventually(t, "offsets committed", h.lag)
	emails := h.createdEmails()
	for p := 0; p < 4; p++ {
		for _, kind := range []string{"before", "stuck", "after"} {
			e := fmt.Sprintf("%s%d@x.com", kind, p)
			if emails[e] != 1 {
				t.Errorf("%s created %d times, want exactly 1", e, emails[e])
			}
		}
	}
	if msg := h.commitLog.check(); msg != "" {
		t.Fatal(msg)
	}
}

// A graceful stop while requests are on the wire lets them finish and
// commits their outcome: after a restart no lead is created twice.
func TestGracefulShutdownWithRequestsInFlight(t *testing.T) {
	h := newHarness(t, 2, 1, closeemu.Config{})
	h.emu.SetFaults(closeemu.Faults{Latency: 300 * time.Millisecond})
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 5; i++ {
			h.produce(p, lead(fmt.Sprintf("p%d-%d@x.com", p, i)))
		}
	}
	a := h.start(memberOpts{name: "a"})
	eventually(t, "requests in flight on both partitions", func() string {
		s := h.emu.Stats()
		if inFlight := s.Requests - responses(s); inFlight < 2 {
			return fmt.Sprintf("%d in flight", inFlight)
		}
		return ""
	})
	a.stop(t)
	createdAtStop := h.emu.Stats().Created
	if createdAtStop == 0 {
		t.Fatal("the in-flight requests were not allowed to finish")
	}
	h.emu.SetFaults(closeemu.Faults{})
	h.start(memberOpts{name: "b"})
	eventually(t, "offsets committed", h.lag)
	for e, n := range h.createdEmails() {
		if n != 1 {
			t.Errorf("%s created %d times after a graceful stop and restart", e, n)
		}
	}
	if n := len(h.createdEmails()); n != 10 {
		t.Fatalf("%d distinct leads, want 10", n)
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
func TestShutdownTimeoutAbortsAndLeavesRecordUncommitted(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.emu.SetFaults(closeemu.Faults{Latency: time.Minute})
	h.produce(0, lead("slow@x.com"))
	a := h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.ShutdownTimeout = 200 * time.Millisecond }})
	eventually(t, "request in flight", func() string {
		if s := h.emu.Stats(); s.Requests-responses(s) < 1 {
			return "nothing in flight"
		}
		return ""
	})
	began := time.Now()
	a.stop(t)
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("stop took %s with a 200ms shutdown timeout", took)
	}
	if c := h.at(0); c > 0 {
		t.Fatalf("aborted record committed (offset %d)", c)
	}
	h.emu.SetFaults(closeemu.Faults{})
	h.start(memberOpts{name: "b"})
	eventually(t, "offsets committed", h.lag)
	if n := h.createdEmails()["slow@x.com"]; n != 1 {
		t.Fatalf("slow@x.com created %d times, want 1", n)
	}
}
