package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// rateResult is one rate-limit utilisation scenario.
type rateResult struct {
	Name        string  `json:"name"`
	Members     int     `json:"members"`
	Skewed      bool    `json:"skewed"`
	Leads       int     `json:"leads"`
	Budget      float64 `json:"budget_per_sec"`
	Achieved    float64 `json:"achieved_per_sec"`
	Utilisation float64 `json:"utilisation"`
	Whole       float64 `json:"whole_run_per_sec"` // (leads-1) ÷ first-to-last span, edges included
	Status429   int     `json:"status_429"`
	// Owned is the partitions each member held (from its /metrics), and
	// HotOwned how many of the lead-carrying partitions each held.
	Owned    []int `json:"owned"`
	HotOwned []int `json:"hot_owned"`
}

// hotPartitions carry the leads of a skewed scenario.
var hotPartitions = []int32{0, 1}

// members starts n `closesink run` children in one group on a fresh topic
// and waits until the group's 12 partitions are spread over all of them.
func members(ctx context.Context, o opts, b *broker, emu *emulator, name string, n int, extra ...string) (topic string, ps []*proc, addrs []string, err error) {
	if topic, err = b.topic(ctx, name, partitions); err != nil {
		return "", nil, nil, err
	}
	dlq, err := b.topic(ctx, name+"-dlq", 1)
	if err != nil {
		return "", nil, nil, err
	}
	group := fmt.Sprintf("bench-%s-%d", name, time.Now().UnixNano())
	for i := range n {
		p, err := startProc(o.bin, o.logDir, o.childEnv, fmt.Sprintf("%s-%d", name, i), runArgs(b, emu.srv.URL, topic, dlq, group, extra...))
		if err != nil {
			return "", ps, nil, err
		}
		ps = append(ps, p)
		a, err := p.metricsAddr(time.Minute)
		if err != nil {
			return "", ps, nil, err
		}
		addrs = append(addrs, a)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		owned, err := ownedBy(addrs)
		if err == nil && sum(owned) == partitions && slices.Min(owned) > 0 {
			return topic, ps, addrs, nil
		}
		if time.Now().After(deadline) {
			return "", ps, nil, fmt.Errorf("%s: partitions not spread over %d members: %v (%v)", name, n, owned, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ownedBy(addrs []string) ([]int, error) {
	owned := make([]int, len(addrs))
	for i, a := range addrs {
		v, err := scrapeSum(a, "closesink_assigned_partitions")
		if err != nil {
			return owned, err
		}
		owned[i] = int(v)
	}
	return owned, nil
}

func sum(xs []int) (s int) {
	for _, x := range xs {
		s += x
	}
	return s
}

// rateScenario offers budget × seconds leads at once (uniform over the 12
// partitions, or skewed onto hotPartitions) to n members sharing the
// budget, with the emulator enforcing 1.25 × budget. The achieved rate is
// measured on the emulator's arrival times of the creates it answered 200,
// without the first and last second (see below).
func rateScenario(ctx context.Context, o opts, b *broker, g *gen, n int, skewed bool) (rateResult, error) {
	r := rateResult{Members: n, Skewed: skewed, Budget: o.budget}
	r.Name = fmt.Sprintf("%s keys, %d member(s)", map[bool]string{false: "uniform", true: "skewed"}[skewed], n)
	emu := newEmulator(1.25 * o.budget)
	defer emu.close()
	name := fmt.Sprintf("rate-%s-%d", map[bool]string{false: "uniform", true: "skewed"}[skewed], n)
	topic, ps, addrs, err := members(ctx, o, b, emu, name, n,
		"--rate", strconv.FormatFloat(o.budget, 'f', -1, 64), "--burst", "5")
	defer func() {
		for _, p := range ps {
			p.kill()
		}
	}()
	if err != nil {
		return r, err
	}
	owned, _ := ownedBy(addrs)
	r.Owned = owned
	// A multiple of 12, round-robin: every partition (and so every member
	// of a uniform scenario) gets the same number of leads.
	r.Leads = (int(o.budget*o.rateSeconds) + partitions - 1) / partitions * partitions
	recs, _ := g.records(topic, r.Leads, func(int) bool { return true }, func(i int, _ bool) int32 {
		if skewed {
			return hotPartitions[i%len(hotPartitions)]
		}
		return int32(i % partitions)
	})
	if err := b.produce(ctx, recs); err != nil {
		return r, err
	}
	limit := time.Duration(float64(time.Second) * (o.rateSeconds*float64(partitions)/float64(len(hotPartitions)) + 60))
	deadline := time.Now().Add(limit)
	for len(emu.arrivals()) < r.Leads {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%s: %d of %d leads within %s", r.Name, len(emu.arrivals()), r.Leads, limit)
		}
		for _, p := range ps {
			if p.exited() {
				return r, fmt.Errorf("%s exited: %v (log %s)", p.name, p.err, p.log)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.HotOwned = hotOwned(ps)
	// Steady state: the first and the last second are left out (the
	// bucket bursts at the start; at the end the members run out of
	// leads a little apart). Whole: every lead over its whole span.
	arr := emu.arrivals()
	slices.SortFunc(arr, func(a, b time.Time) int { return a.Compare(b) })
	from, to := arr[0].Add(time.Second), arr[len(arr)-1].Add(-time.Second)
	steady := 0
	for _, a := range arr {
		if a.After(from) && !a.After(to) {
			steady++
		}
	}
	if span := to.Sub(from).Seconds(); span > 0 {
		r.Achieved = float64(steady) / span
	}
	if span := arr[len(arr)-1].Sub(arr[0]).Seconds(); span > 0 {
		r.Whole = float64(len(arr)-1) / span
	}
	r.Utilisation = r.Achieved / o.budget
	r.Status429 = emu.emu.Stats().RateLimited
	for _, p := range ps {
		if err := p.stop(90 * time.Second); err != nil {
			return r, err
		}
	}
	return r, nil
}

// hotOwned counts, per member, the hot partitions it held at the end
// (from its "partitions assigned" and "partitions revoked" log lines).
func hotOwned(ps []*proc) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		held := heldPartitions(p.log)
		for _, h := range hotPartitions {
			if held[h] {
				out[i]++
			}
		}
	}
	return out
}

// latencyResult is produce time → emulator receipt time of single leads.
type latencyResult struct {
	Offered  float64 `json:"offered_per_sec"`
	Leads    int     `json:"leads"`
	P50Milli float64 `json:"p50_ms"`
	P99Milli float64 `json:"p99_ms"`
	MaxMilli float64 `json:"max_ms"`
}

// latency offers 10 leads/s to one member (budget as in the rate scenarios,
// emulator at 1.25 × budget) and measures each lead from just before its
// produce call to the emulator's receipt of its create, matched by email.
func latency(ctx context.Context, o opts, b *broker, g *gen) (latencyResult, error) {
	r := latencyResult{Offered: 10, Leads: int(10 * o.latencySeconds)}
	emu := newEmulator(1.25 * o.budget)
	defer emu.close()
	topic, ps, _, err := members(ctx, o, b, emu, "latency", 1, "--rate", strconv.FormatFloat(o.budget, 'f', -1, 64), "--burst", "5")
	defer func() {
		for _, p := range ps {
			p.kill()
		}
	}()
	if err != nil {
		return r, err
	}
	sent := make([]time.Time, r.Leads)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := range r.Leads {
		<-tick.C
		k, v := g.event(i, true)
		sent[i] = time.Now()
		b.cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Key: k, Value: v}, nil)
	}
	if err := b.cl.Flush(ctx); err != nil {
		return r, err
	}
	deadline := time.Now().Add(time.Minute)
	for len(emu.arrivals()) < r.Leads && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var lat []float64
	for i := range r.Leads {
		at, ok := emu.arrivedAt(g.email(i))
		if !ok {
			return r, fmt.Errorf("latency: lead %d never reached the emulator", i)
		}
		lat = append(lat, float64(at.Sub(sent[i]).Microseconds())/1000)
	}
	slices.Sort(lat)
	r.P50Milli, r.P99Milli, r.MaxMilli = quantile(lat, 0.50), quantile(lat, 0.99), lat[len(lat)-1]
	for _, p := range ps {
		if err := p.stop(90 * time.Second); err != nil {
			return r, err
		}
	}
	return r, nil
}

// quantile is the nearest-rank quantile of sorted xs.
func quantile(xs []float64, q float64) float64 {
	i := int(float64(len(xs))*q+0.999999) - 1
	return xs[max(0, min(len(xs)-1, i))]
}
