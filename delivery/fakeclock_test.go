package delivery

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock for tests. In auto mode Sleep advances the clock by d
// and returns at once, so retry and limiter sequences run in virtual time.
// In manual mode Sleep blocks until Advance passes its deadline or ctx ends,
// and announces itself on sleeping so a test can act while a sender waits.
type fakeClock struct {
	mu       sync.Mutex
	now      time.Time
	auto     bool
	sleeps   []time.Duration
	waiters  map[*fakeWaiter]struct{}
	sleeping chan time.Duration
}

type fakeWaiter struct {
	until time.Time
	done  chan struct{}
}

func newAutoClock() *fakeClock   { return newFakeClock(true) }
func newManualClock() *fakeClock { return newFakeClock(false) }

func newFakeClock(auto bool) *fakeClock {
	return &fakeClock{
		now:      time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
		auto:     auto,
		waiters:  map[*fakeWaiter]struct{}{},
		sleeping: make(chan time.Duration, 1024),
	}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	if f.auto {
		f.now = f.now.Add(d)
		f.mu.Unlock()
		return nil
	}
	w := &fakeWaiter{until: f.now.Add(d), done: make(chan struct{})}
	f.waiters[w] = struct{}{}
	f.mu.Unlock()
	f.sleeping <- d
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		delete(f.waiters, w)
		f.mu.Unlock()
		return ctx.Err()
	}
}

// Advance moves the clock and wakes the sleepers whose deadline passed.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	for w := range f.waiters {
		if !w.until.After(f.now) {
			close(w.done)
			delete(f.waiters, w)
		}
	}
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// awaitSleep returns the duration of the next Sleep that starts, failing the
// test if none starts within a (real) second.
func (f *fakeClock) awaitSleep(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.sleeping:
		return d
	case <-time.After(time.Second):
		t.Fatal("no Sleep started within 1s")
		return 0
	}
}
