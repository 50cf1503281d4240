package consumer

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// gateClient is a fetchCommitter for several partitions whose first
// CommitRecords call blocks until the gate opens, so a test can line up
// workers behind a commit in flight.
type gateClient struct {
	mu      sync.Mutex
	calls   [][]int32 // the partitions of each CommitRecords call
	gate    chan struct{}
	entered chan struct{} // one tick per call
}

func (g *gateClient) PauseFetchPartitions(m map[string][]int32) map[string][]int32 { return m }
func (g *gateClient) ResumeFetchPartitions(map[string][]int32)                     {}

func (g *gateClient) CommitRecords(_ context.Context, rs ...*kgo.Record) error {
	g.mu.Lock()
	first := len(g.calls) == 0
	parts := make([]int32, len(rs))
	for i, r := range rs {
		parts[i] = r.Partition
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	g.calls = append(g.calls, parts)
	g.mu.Unlock()
	g.entered <- struct{}{}
	if first {
		<-g.gate
	}
	return nil
}

// Leads of several partitions that wait for a commit while one is in flight
// share the next round: one request for all of them, not one each. Each
// waits for its round before it may go on.
func TestWaitingCommitsShareOneRound(t *testing.T) {
	g := &gateClient{gate: make(chan struct{}), entered: make(chan struct{}, 8)}
	cfg := Config{Topic: testTopic}
	cfg.setDefaults()
	c := &Consumer{cfg: cfg, fc: g, log: cfg.Logger, workers: map[int32]*worker{}}
	ws := make([]*worker, 3)
	for p := range ws {
		ws[p] = newWorker(c, int32(p))
		t.Cleanup(ws[p].cancel)
		ws[p].final = &kgo.Record{Topic: testTopic, Partition: int32(p), Offset: 41}
	}
	ok := make([]chan bool, 3)
	commit := func(p int) {
		ok[p] = make(chan bool, 1)
		go func() { ok[p] <- ws[p].commit(context.Background()) }()
	}
	commit(0)
	select {
	case <-g.entered: // partition 0's round is in flight, held at the gate
	case <-time.After(waitFor):
		t.Fatal("no commit started")
	}
	commit(1)
	commit(2)
	deadline := time.Now().Add(waitFor)
	for {
		c.pendMu.Lock()
		n := len(c.pend)
		c.pendMu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d partitions waiting for the next round, want 2", n)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	for p := 1; p < 3; p++ {
		select {
		case <-ok[p]:
			t.Fatalf("partition %d went on before its round was committed", p)
		default:
		}
	}
	close(g.gate)
	for p := range ws {
		select {
		case done := <-ok[p]:
			if !done || ws[p].committed.Load() != 42 {
				t.Fatalf("partition %d: commit %v, committed %d, want true, 42", p, done, ws[p].committed.Load())
			}
		case <-time.After(waitFor):
			t.Fatalf("partition %d's commit did not return", p)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.calls) != 2 || len(g.calls[1]) != 2 || g.calls[1][0] != 1 || g.calls[1][1] != 2 {
		t.Fatalf("commit requests %v, want [[0] [1 2]]", g.calls)
	}
}
