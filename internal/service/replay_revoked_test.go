package service_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
)

// The bad day of the issue: the key is revoked while the service runs, the
// leads after that land in the DLQ with 401, the operator adds a new key
// (goodKey) and replays. Every lead reaches Close exactly once.
func TestRevokedKeyRecoveredByReplay(t *testing.T) {
	h := newHarness(t, 2, 2, closeemu.Config{APIKeys: []string{oldKey}})
	svc := h.start(memberOpts{name: "service", cfg: func(c *config.Config) { c.APIKey = oldKey }})
	before := []string{"a1@x.com", "a2@x.com", "a3@x.com"}
	h.produceLeads(0, before[:2]...)
	h.produceLeads(1, before[2])
	eventually(t, "first leads delivered", func() string {
		if n := len(h.emu.Leads()); n != 3 {
			return fmt.Sprintf("%d leads", n)
		}
		return h.lag()
	})

	h.emu.RevokeKey(oldKey)
	revoked := []string{"b1@x.com", "b2@x.com", "b3@x.com", "b4@x.com", "b5@x.com", "b6@x.com"}
	h.produceLeads(0, revoked[:3]...)
	h.produceLeads(1, revoked[3:]...)
	eventually(t, "revoked leads dead-lettered", func() string {
		if n := total(h.ends(h.dlq)); n != int64(len(revoked)) {
			return fmt.Sprintf("%d DLQ records", n)
		}
		return h.lag()
	})
	svc.stop(t)
	for _, r := range h.readDLQ(len(revoked)) {
		if header(r, deadletter.HeaderStatus) != "401" || header(r, deadletter.HeaderClass) != "permanent" {
			t.Fatalf("DLQ record headers: %v", r.Headers)
		}
	}

	h.emu.AddKey(goodKey)
	leadsBefore, checksBefore := h.requests(leadRoute), h.requests(meRoute)
	o := service.ReplayOptions{Filter: replay.Filter{Statuses: []int{401}}}
	s := h.mustReplay(o)
	if s.Read != 6 || s.Selected != 6 || s.Delivered != 6 || s.DeadLettered+s.Dropped+s.Skipped != 0 || !s.ReachedEnd {
		t.Fatalf("summary %+v", s)
	}
	emails := h.createdEmails()
	for _, e := range append(before, revoked...) {
		if emails[e] != 1 {
			t.Errorf("%s created %d times, want once (all: %v)", e, emails[e], emails)
		}
	}
	if len(emails) != 9 {
		t.Errorf("created %v", emails)
	}
	ends := h.ends(h.dlq)
	if total(ends) != 6 {
		t.Fatalf("the replay wrote to the DLQ: ends %v", ends)
	}
	if got := h.committed(h.replayGroup, h.dlq); !reflect.DeepEqual(got, ends) {
		t.Fatalf("replay group committed %v, want the DLQ end offsets %v", got, ends)
	}

	// A second run has nothing left to do.
	s = h.mustReplay(o)
	if s.Read != 0 || s.Selected != 0 || !s.ReachedEnd {
		t.Fatalf("second run summary %+v", s)
	}
	if got := h.requests(leadRoute) - leadsBefore; got != 6 {
		t.Fatalf("Close got %d lead requests from the replays, want 6", got)
	}
	if got := h.requests(meRoute) - checksBefore; got != 2 {
		t.Fatalf("the replays checked the key %d times, want once each", got)
	}
}

func total(m map[int32]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}
