package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// A commit that failed while the partition then went idle is retried on a
// timer; before, it waited for the partition's next record, and a crash or a
// rebalance meanwhile sent the delivered lead again.
func TestWorkerRetriesFailedCommitWhileIdle(t *testing.T) {
	h := newScriptedHandler()
	w, fc := newTestWorker(t, Config{Handler: h, CommitRetry: 10 * time.Millisecond})
	fc.failCommit = func(call int) bool { return call <= 2 }
	w.enqueue(records(0, 1))
	start(t, w)
	h.handle(t, 0, result{urgent: true}) // commit 1 fails, the retries go on
	awaitCommit(t, fc, 1)
	if got := fc.attempts(); got != 3 {
		t.Fatalf("CommitRecords called %d times, want 3 (two failures, then the retry that succeeded)", got)
	}
}

// The byte bound counts keys and headers, not only values.
func TestByteBoundCountsKeysAndHeaders(t *testing.T) {
	w, fc := newTestWorker(t, Config{MaxBuffered: 1000, MaxBufferedBytes: 100})
	rec := &kgo.Record{Topic: testTopic, Partition: testPartition, Key: make([]byte, 40), Value: make([]byte, 9),
		Headers: []kgo.RecordHeader{{Key: "h", Value: make([]byte, 49)}}} // 99 bytes
	w.enqueue([]*kgo.Record{rec})
	if p, _ := fc.counts(); p != 0 {
		t.Fatal("paused at 99 of 100 bytes")
	}
	w.enqueue(records(1, 1))
	if p, _ := fc.counts(); p != 1 {
		t.Fatalf("pauses = %d at 100 of 100 bytes counting key and headers, want 1", p)
	}
}

// Each partition gets an equal share of the member's byte bound, so the
// member's queues together stay within it however many partitions it owns.
func TestByteBoundIsAShareOfTheMemberBound(t *testing.T) {
	w, fc := newTestWorker(t, Config{MaxBuffered: 1000, MaxBufferedBytes: 1000, MemberBufferedBytes: 200})
	w.c.assignedCount.Store(4) // share: 50 bytes
	w.enqueue(records(0, 49))
	if p, _ := fc.counts(); p != 0 {
		t.Fatal("paused at 49 bytes with a 50-byte share")
	}
	w.enqueue(records(1, 1))
	if p, _ := fc.counts(); p != 1 {
		t.Fatalf("pauses = %d at 50 bytes with a 50-byte share, want 1", p)
	}
	w.c.assignedCount.Store(1) // the share grows back to MaxBufferedBytes' cap
	if got := w.c.byteBound(); got != 200 {
		t.Fatalf("byteBound with one partition = %d, want 200 (the member bound)", got)
	}
}

// Records for a partition without a worker stop the member instead of
// being skipped.
func TestRecordsWithoutWorkerAreFatal(t *testing.T) {
	w, _ := newTestWorker(t, Config{})
	c := w.c
	c.dispatch(kgo.FetchTopicPartition{Topic: testTopic, FetchPartition: kgo.FetchPartition{Partition: 7, Records: records(12, 1)}})
	if !errors.Is(c.fatal, ErrNoWorker) {
		t.Fatalf("fatal = %v, want ErrNoWorker", c.fatal)
	}
}

// stuckHandler ignores cancellation, like a dead-letter write to a broker
// that never answers.
type stuckHandler struct{ entered, release chan struct{} }

func (h stuckHandler) Handle(context.Context, *kgo.Record) (bool, error) {
	close(h.entered)
	<-h.release
	return true, nil
}

// The final stop does not outlive the stop timeout plus the commit timeout
// when work cannot be aborted; the stuck partition commits nothing more.
func TestFinalStopDoesNotWaitForeverOnStuckWork(t *testing.T) {
	h := stuckHandler{entered: make(chan struct{}), release: make(chan struct{})}
	defer close(h.release)
	aborted := make(chan struct{}, 1)
	w, fc := newTestWorker(t, Config{Handler: h, StopTimeout: 20 * time.Millisecond, CommitTimeout: 20 * time.Millisecond,
		OnStopTimeout: func() { aborted <- struct{}{} }})
	w.c.closing.Store(true)
	w.enqueue(records(0, 1))
	go w.run()
	select {
	case <-h.entered:
	case <-time.After(waitFor):
		t.Fatal("the handler was never called")
	}
	stopped := make(chan struct{})
	go func() { w.c.stop([]*worker{w}); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(waitFor):
		t.Fatal("stop still waiting on a stuck worker")
	}
	if len(aborted) != 1 || !w.noCommit.Load() {
		t.Fatalf("aborted %d time(s), noCommit %v; want 1, true", len(aborted), w.noCommit.Load())
	}
	if n := fc.attempts(); n != 0 {
		t.Fatalf("%d commits of a partition whose record is not final", n)
	}
}

// A partition lost while the member could not reach the broker (a restart)
// and then given back: the records this process already took to a final
// outcome are committed, not handed to the handler again.
func TestLostPartitionGivenBackSkipsWhatWasFinal(t *testing.T) {
	var handled []int64
	var mu sync.Mutex
	cfg := Config{Topic: testTopic, CommitRetry: time.Millisecond, Handler: HandlerFunc(func(_ context.Context, r *kgo.Record) (bool, error) {
		mu.Lock()
		handled = append(handled, r.Offset)
		mu.Unlock()
		return true, nil
	})}
	cfg.setDefaults()
	fc := newFakeClient()
	fc.failCommit = func(int) bool { return true } // the broker is gone: no commit goes through
	c := &Consumer{cfg: cfg, fc: fc, log: zap.NewNop(), workers: map[int32]*worker{}, lostFinal: map[int32]int64{}}
	parts := map[string][]int32{testTopic: {testPartition}}
	c.assigned(context.Background(), nil, parts)
	c.workers[testPartition].enqueue(records(0, 1, 1, 1))
	pollUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 1 })
	c.lost(context.Background(), nil, parts)
	if got := c.lostFinal[testPartition]; got != 1 {
		t.Fatalf("remembered next offset %d, want 1 (only record 0 was handled: its commit failed, so the worker waited)", got)
	}

	fc.failCommit = nil // the broker is back
	c.assigned(context.Background(), nil, parts)
	c.workers[testPartition].enqueue(records(0, 1, 1, 1)) // re-read from the old commit
	awaitCommit(t, fc, 1)
	pollUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 3 })
	c.stopAndCommit([]int32{testPartition})
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(handled) != "[0 1 2]" {
		t.Fatalf("handled %v, want [0 1 2] (record 0 once)", handled)
	}
}

// pollUntil polls cond until it holds, failing after waitFor.
func pollUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond) // a poll interval, not a wait for the condition
	}
}
