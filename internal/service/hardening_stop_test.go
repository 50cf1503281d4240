package service_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/pkg/closeemu"
)

// A stop (SIGTERM: ctx cancelled) while Close takes longer to answer a lead
// it has already created than the group's session timeout: the member stays
// in the group (heartbeating) until the answer came and its offset is
// committed, and only then leaves. The commit covers the lead, and a
// restarted member does not send it again.
//
// The session timeout (6s, the broker's minimum) is below the time the
// answer takes (8.5s); config.Validate would refuse that combination
// (shutdown-timeout + 10s must stay below session-timeout), but Run does
// not validate, and a member that stopped heartbeating before it committed
// (franz-go's Close leaving the group first, then running the revoke
// callback) would be fenced out here: its commit rejected, the lead
// created a second time after the restart.
func TestHardeningFinalCommitWhileStillInTheGroup(t *testing.T) {
	const session, answerAfter = 6 * time.Second, 8500 * time.Millisecond
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.emu.SetFaults(closeemu.Faults{LatencyAfterCreate: answerAfter})
	inFlight := make(chan time.Time, 1)
	h.front.setOnLead(func(n int, _ http.ResponseWriter, _ *http.Request) bool {
		if n == 1 {
			inFlight <- time.Now()
		}
		return false
	})
	h.produce(0, lead("slow@x.com"))
	a := h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.SessionTimeout = session }})
	var sent time.Time
	select {
	case sent = <-inFlight:
	case <-time.After(deadline):
		t.Fatal("the lead was never sent")
	}
	a.stop(t) // the SIGTERM, with the request on the wire
	if took := time.Since(sent); took < answerAfter {
		t.Fatalf("the member stopped %s after sending, before Close answered (%s)", took, answerAfter)
	}
	if s := h.emu.Stats(); s.Created != 1 || s.AbandonedAfterCreate != 0 {
		t.Fatalf("Close created %d leads, %d without the client getting the answer", s.Created, s.AbandonedAfterCreate)
	}
	if c := h.at(0); c != 1 {
		t.Fatalf("committed offset %d after the stop, want 1: the delivered lead's commit was lost", c)
	}

	h.emu.SetFaults(closeemu.Faults{})
	h.produce(0, lead("later@x.com"))
	h.start(memberOpts{name: "b"})
	eventually(t, "the restarted member committed", func() string {
		if c := h.at(0); c != 2 {
			return fmt.Sprintf("committed %d", c)
		}
		return ""
	})
	if got := h.createdEmails(); len(got) != 2 || got["slow@x.com"] != 1 || got["later@x.com"] != 1 {
		t.Fatalf("created %v: slow@x.com must be created once", got)
	}
	if n := h.requests(leadRoute); n != 2 {
		t.Fatalf("Close got %d lead requests, want 2", n)
	}
}
