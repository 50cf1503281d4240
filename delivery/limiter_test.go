package delivery

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestPartitionShareOfTheBudget(t *testing.T) {
	tests := []struct {
		rate      float64
		burst, n  int
		wantRate  float64
		wantBurst int
	}{
		{50, 5, 1, 50, 5},
		{50, 5, 4, 12.5, 1},
		{50, 5, 10, 5, 1},  // more partitions than burst: each still gets 1
		{60, 20, 3, 20, 6}, // 20/3 rounds down
		{60, 0, 2, 30, 1},  // no burst configured: 1
		{10, 4, 0, 10, 4},  // n < 1 counts as 1
		{0, 5, 4, 0, 0},    // no limiter
	}
	for _, tt := range tests {
		c := newTestClient(t, "http://127.0.0.1:1", nil, func(c *Config) { c.Rate, c.Burst = tt.rate, tt.burst })
		before := c.Sender(9) // created before SetPartitions: must be updated too
		c.SetPartitions(tt.n)
		after := c.Sender(2)
		for _, s := range []*Sender{before, after} {
			if r, b := s.RateLimit(); r != tt.wantRate || b != tt.wantBurst {
				t.Errorf("rate %v burst %d over %d partitions: partition %d got (%v, %d), want (%v, %d)",
					tt.rate, tt.burst, tt.n, s.Partition(), r, b, tt.wantRate, tt.wantBurst)
			}
		}
		if c.Sender(2) != after {
			t.Error("Sender(2) returned a new sender")
		}
	}
}

// The limiter paces requests in (virtual) time at the partition's share.
func TestLimiterPacesRequests(t *testing.T) {
	for _, tt := range []struct {
		partitions int
		gap        time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 400 * time.Millisecond}} {
		clock := newAutoClock()
		srv := newScriptServer(t, clock, ok200)
		c := newTestClient(t, srv.URL, clock, func(c *Config) { c.Rate, c.Burst = 10, 1 })
		c.SetPartitions(tt.partitions)
		s := c.Sender(0)
		for range 11 {
			if o := s.Deliver(context.Background(), testLead()); o.Status != Delivered {
				t.Fatalf("outcome %+v", o)
			}
		}
		times := srv.Times()
		for i := 1; i < len(times); i++ {
			if gap := times[i].Sub(times[i-1]); gap != tt.gap {
				t.Errorf("%d partitions: request %d came %v after the previous, want %v", tt.partitions, i, gap, tt.gap)
			}
		}
	}
}

func TestLimiterAllowsBurstThenPaces(t *testing.T) {
	clock := newAutoClock()
	srv := newScriptServer(t, clock, ok200)
	c := newTestClient(t, srv.URL, clock, func(c *Config) { c.Rate, c.Burst = 2, 3 })
	s := c.Sender(0)
	for range 5 {
		s.Deliver(context.Background(), testLead())
	}
	times := srv.Times()
	start := times[0]
	want := []time.Duration{0, 0, 0, 500 * time.Millisecond, time.Second}
	for i, tm := range times {
		if tm.Sub(start) != want[i] {
			t.Errorf("request %d at +%v, want +%v", i, tm.Sub(start), want[i])
		}
	}
}

func TestRateLimitedPausesEveryPartition(t *testing.T) {
	clock := newManualClock()
	srv := newScriptServer(t, clock, reply{status: 429, header: map[string]string{"Retry-After": "3"}}, ok200)
	c := newTestClient(t, srv.URL, clock, nil)
	c.SetPartitions(2)
	ch0 := deliverAsync(context.Background(), c.Sender(0))
	if d := clock.awaitSleep(t); d != 3*time.Second {
		t.Fatalf("partition 0 sleeps %v", d)
	}
	ch1 := deliverAsync(context.Background(), c.Sender(1))
	if d := clock.awaitSleep(t); d != 3*time.Second {
		t.Fatalf("partition 1 sleeps %v, want the shared pause", d)
	}
	if n := srv.count.Load(); n != 1 {
		t.Fatalf("%d requests during the pause", n)
	}
	clock.Advance(3 * time.Second)
	for _, ch := range []<-chan Outcome{ch0, ch1} {
		if o := awaitOutcome(t, ch, 2*time.Second); o.Status != Delivered {
			t.Errorf("outcome %+v", o)
		}
	}
	for i, tm := range srv.Times()[1:] {
		if tm.Before(srv.Times()[0].Add(3 * time.Second)) {
			t.Errorf("request %d sent during the pause", i+2)
		}
	}
}

func TestRemainingZeroMakesNextRequestWait(t *testing.T) {
	clock := newAutoClock()
	last := reply{status: 200, body: createdBody, header: map[string]string{"RateLimit": "limit=5, remaining=0, reset=2.5"}}
	normal := reply{status: 200, body: createdBody, header: map[string]string{"RateLimit": "limit=5, remaining=4, reset=1"}}
	srv := newScriptServer(t, clock, normal, last, normal)
	c := newTestClient(t, srv.URL, clock, nil)
	for p := range 3 {
		if o := c.Sender(int32(p)).Deliver(context.Background(), testLead()); o.Status != Delivered {
			t.Fatalf("outcome %+v", o)
		}
	}
	times := srv.Times()
	if times[1] != times[0] {
		t.Errorf("remaining=4 delayed the next request by %v", times[1].Sub(times[0]))
	}
	if gap := times[2].Sub(times[1]); gap != 2500*time.Millisecond {
		t.Errorf("request after remaining=0 came %v later, want the 2.5s reset", gap)
	}
}

// Leads on 2 of 12 partitions, one member: the two busy partitions share
// the member's whole budget instead of 2/12 of it.
func TestBudgetGoesToThePartitionsWithWork(t *testing.T) {
	clock := newAutoClock()
	srv := newScriptServer(t, clock, ok200)
	c := newTestClient(t, srv.URL, clock, func(c *Config) { c.Rate, c.Burst = 10, 1 })
	c.SetPartitions(12)
	c.SetAssigned(12)
	const each = 20
	var wg sync.WaitGroup
	for _, p := range []int32{3, 7} {
		wg.Go(func() {
			for range each {
				if o := c.Sender(p).Deliver(context.Background(), testLead()); o.Status != Delivered {
					t.Errorf("outcome %+v", o)
				}
			}
		})
	}
	wg.Wait()
	times := srv.Times()
	if len(times) != 2*each {
		t.Fatalf("%d requests", len(times))
	}
	// 40 requests at 10/s with a burst of 1 take 3.9 s of (virtual) time;
	// a fixed slice of 10/12 per partition would have taken 23.4 s.
	if span := times[len(times)-1].Sub(times[0]); span > 4*time.Second {
		t.Fatalf("40 requests took %v of virtual time, want about 3.9s (the whole budget)", span)
	}
}

// Members with uneven shares of the partitions together never exceed the
// group budget.
func TestMemberSharesAddUpToTheBudget(t *testing.T) {
	var sum float64
	bursts := 0
	for _, owned := range []int{5, 4, 3} {
		c := newTestClient(t, "http://127.0.0.1:1", nil, func(c *Config) { c.Rate, c.Burst = 30, 12 })
		c.SetPartitions(12)
		c.SetAssigned(owned)
		r, b := c.Sender(0).RateLimit()
		sum += r
		bursts += b
	}
	if sum != 30 || bursts > 12 {
		t.Fatalf("members' rates add up to %v (want 30), bursts to %d (want <= 12)", sum, bursts)
	}
}
