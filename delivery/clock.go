package delivery

import (
	"context"
	"time"
)

// Clock is the time source of a Client. Tests inject a fake so that no test
// sleeps for real; production uses the wall clock. Implementations must be
// safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep blocks until d has passed or ctx is done, whichever comes first.
	// It returns ctx's error if ctx ended the wait, nil otherwise. A d <= 0
	// returns at once (with ctx's error if ctx is already done).
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits on a timer or ctx.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
