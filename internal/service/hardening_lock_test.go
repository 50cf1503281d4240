package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
)

// Two replays started at the same instant on one replay group: exactly one
// runs, the other is refused with ErrGroupActive, and every lead reaches
// Close exactly once. Three rounds, each over fresh DLQ records, give the
// interleavings (who joins first, who started first) a chance to differ.
func TestHardeningConcurrentReplaysOnlyOneRuns(t *testing.T) {
	const n = 20
	h := newHarness(t, 1, 1, closeemu.Config{})
	// Each request takes a while, so the two replays overlap whatever the
	// order in which they get going.
	h.emu.SetFaults(closeemu.Faults{Latency: 250 * time.Millisecond})
	for round := 0; round < 3; round++ {
		ds := make([]dead, n)
		emails := make([]string, n)
		for i := range ds {
			emails[i] = fmt.Sprintf("r%d-%02d@x.com", round, i)
			ds[i] = dead{email: emails[i], class: pipeline.ClassPermanent, status: 401}
		}
		h.putDLQ(ds...)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			sums  [2]replay.Summary
			errs  [2]error
		)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				sums[i], errs[i] = h.replayCtx(ctx, service.ReplayOptions{}, nil)
			}()
		}
		close(start)
		wg.Wait()
		cancel()
		// Leads first: a second replay that ran too shows as duplicates.
		created := h.createdEmails()
		for _, e := range emails {
			if created[e] != 1 {
				t.Errorf("round %d: %s created %d times, want 1", round, e, created[e])
			}
		}
		ran, refused := -1, 0
		for i, err := range errs {
			switch {
			case err == nil && ran < 0:
				ran = i
			case errors.Is(err, replay.ErrGroupActive):
				refused++
			}
		}
		if ran < 0 || refused != 1 {
			t.Fatalf("round %d: want one replay run and one refused with ErrGroupActive; got\n"+
				"replay 0: err %v, summary %+v\nreplay 1: err %v, summary %+v", round, errs[0], sums[0], errs[1], sums[1])
		}
		if s := sums[ran]; s.Read != n || s.Delivered != n || !s.ReachedEnd {
			t.Fatalf("round %d: the replay that ran: summary %+v", round, s)
		}
		if len(created) != n*(round+1) {
			t.Fatalf("round %d: %d leads in Close, want %d", round, len(created), n*(round+1))
		}
		if c, e := h.committed(h.replayGroup, h.dlq)[0], h.ends(h.dlq)[0]; c != e || e != int64(n*(round+1)) {
			t.Fatalf("round %d: committed %d, DLQ end %d, want both %d", round, c, e, n*(round+1))
		}
	}
}

// A replay started while another holds the replay group is refused at once
// (it does not wait for the holder to finish), sends nothing, and the
// holder's commits go on: it finishes with every lead delivered once.
func TestHardeningReplayRefusedWhileAnotherHoldsTheGroup(t *testing.T) {
	const n = 6
	h := newHarness(t, 1, 1, closeemu.Config{})
	ds := make([]dead, n)
	for i := range ds {
		ds[i] = dead{email: fmt.Sprintf("%d@x.com", i), class: pipeline.ClassPermanent, status: 401}
	}
	h.putDLQ(ds...)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the Close front closes
	h.front.setOnLead(func(k int, _ http.ResponseWriter, r *http.Request) bool {
		if k == 3 { // the holder's third lead stays on the wire until released
			close(held)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return false
	})
	type result struct {
		s   replay.Summary
		err error
	}
	holder := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*deadline)
		defer cancel()
		s, err := h.replayCtx(ctx, service.ReplayOptions{}, nil)
		holder <- result{s, err}
	}()
	select {
	case <-held:
	case r := <-holder:
		t.Fatalf("the holder ended before its third lead: %v %+v", r.err, r.s)
	case <-time.After(deadline):
		t.Fatal("the holder never sent its third lead")
	}
	if c := h.committed(h.replayGroup, h.dlq)[0]; c != 2 {
		t.Fatalf("holder committed %d before the second replay, want 2", c)
	}

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	s, err := h.replayCtx(ctx, service.ReplayOptions{}, nil)
	if !errors.Is(err, replay.ErrGroupActive) {
		t.Fatalf("second replay: err = %v (summary %+v), want ErrGroupActive", err, s)
	}
	if k := h.requests(leadRoute); k != 3 {
		t.Fatalf("%d lead requests after the refusal, want the holder's 3", k)
	}
	once.Do(func() { close(release) })
	var r result
	select {
	case r = <-holder:
	case <-time.After(deadline):
		t.Fatal("the holder did not finish")
	}
	if r.err != nil || r.s.Delivered != n || !r.s.ReachedEnd {
		t.Fatalf("holder: err %v, summary %+v", r.err, r.s)
	}
	for e, k := range h.createdEmails() {
		if k != 1 {
			t.Errorf("%s created %d times", e, k)
		}
	}
	if got := len(h.createdEmails()); got != n {
		t.Fatalf("%d leads, want %d", got, n)
	}
	if c := h.committed(h.replayGroup, h.dlq)[0]; c != n {
		t.Fatalf("holder committed %d at the end, want %d", c, n)
	}
}
