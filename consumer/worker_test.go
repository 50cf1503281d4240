package consumer

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var wantFetchMap = map[string][]int32{testTopic: {testPartition}}

// enqueue alone (no worker goroutine) decides pausing, so these tests are
// synchronous.

func TestWorkerPausesWhenRecordBoundReached(t *testing.T) {
	w, fc := newTestWorker(t, Config{MaxBuffered: 4, MaxBufferedBytes: 1 << 20})
	w.enqueue(records(0, 1, 1, 1))
	if p, _ := fc.counts(); p != 0 || w.paused {
		t.Fatalf("paused with 3 of MaxBuffered=4 records queued (pauses %d)", p)
	}
	w.enqueue(records(3, 1))
	if p, _ := fc.counts(); p != 1 || !w.paused {
		t.Fatalf("pauses = %d with 4 of MaxBuffered=4 records queued, want 1", p)
	}
	if !reflect.DeepEqual(fc.pauses[0], wantFetchMap) {
		t.Fatalf("paused %v, want %v", fc.pauses[0], wantFetchMap)
	}
	w.enqueue(records(4, 1, 1))
	if p, _ := fc.counts(); p != 1 {
		t.Fatalf("pauses = %d after more records while paused, want still 1", p)
	}
}

func TestWorkerPausesWhenByteBoundReached(t *testing.T) {
	w, fc := newTestWorker(t, Config{MaxBuffered: 1000, MaxBufferedBytes: 100})
	w.enqueue(records(0, 33, 33, 33)) // 99 bytes
	if p, _ := fc.counts(); p != 0 {
		t.Fatalf("paused with 99 of MaxBufferedBytes=100 bytes queued")
	}
	w.enqueue(records(3, 1)) // 100 bytes
	if p, _ := fc.counts(); p != 1 || !w.paused {
		t.Fatalf("pauses = %d with 100 of MaxBufferedBytes=100 bytes queued, want 1", p)
	}
	if !reflect.DeepEqual(fc.pauses[0], wantFetchMap) {
		t.Fatalf("paused %v, want %v", fc.pauses[0], wantFetchMap)
	}
}

// next (the worker's dequeue) decides resuming; called directly from the test.

func TestWorkerResumesAtHalfRecords(t *testing.T) {
	w, fc := newTestWorker(t, Config{MaxBuffered: 10, MaxBufferedBytes: 1 << 20})
	w.enqueue(records(0, sizes(10, 1)...))
	for i := range 4 {
		mustNext(t, w)
		if _, r := fc.counts(); r != 0 {
			t.Fatalf("resumed with %d of MaxBuffered=10 records queued", 10-i-1)
		}
	}
	mustNext(t, w) // 5 left: half
	if _, r := fc.counts(); r != 1 || w.paused {
		t.Fatalf("resumes = %d with 5 of MaxBuffered=10 records queued, want 1", r)
	}
	if !reflect.DeepEqual(fc.resumes[0], wantFetchMap) {
		t.Fatalf("resumed %v, want %v", fc.resumes[0], wantFetchMap)
	}
	for range 5 {
		mustNext(t, w)
	}
	if _, r := fc.counts(); r != 1 {
		t.Fatalf("resumes = %d after draining an unpaused queue, want still 1", r)
	}
	// Filling up again pauses again.
	w.enqueue(records(10, sizes(10, 1)...))
	if p, _ := fc.counts(); p != 2 {
		t.Fatalf("pauses = %d after refilling, want 2", p)
	}
}

// The poll loop's pause call can come late: after the worker already
// drained half the queue and resumed. franz-go must still end resumed, or
// the partition stays paused with an empty queue and is never read again.
func TestWorkerLatePauseDoesNotOutliveTheResume(t *testing.T) {
	w, fc := newTestWorker(t, Config{MaxBuffered: 4, MaxBufferedBytes: 1 << 20})
	fc.pausing, fc.pauseGate = make(chan struct{}, 1), make(chan struct{})
	enqueued := make(chan struct{})
	go func() { w.enqueue(records(0, 1, 1, 1, 1)); close(enqueued) }()
	select {
	case <-fc.pausing: // the queue is full; the pause call has not taken effect
	case <-time.After(waitFor):
		t.Fatal("no pause call")
	}
	drained := make(chan struct{})
	go func() {
		rec, _, _ := w.next(nil)
		rec2, _, _ := w.next(nil) // 2 of 4 left: half, so resume
		if rec == nil || rec2 == nil {
			t.Error("next returned no record")
		}
		close(drained)
	}()
	// Let the worker get as far as it can before the pause lands; with
	// the resume ordered after the pause it waits, without it it resumes.
	deadline := time.Now().Add(waitFor)
	for {
		w.mu.Lock()
		n, paused := len(w.queue), w.paused
		w.mu.Unlock()
		if n == 2 && !paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %d, paused %v: the worker did not drain to half", n, paused)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	close(fc.pauseGate)
	for _, ch := range []chan struct{}{enqueued, drained} {
		select {
		case <-ch:
		case <-time.After(waitFor):
			t.Fatal("enqueue or next did not return")
		}
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if got := fc.order; len(got) == 0 || got[len(got)-1] != "resume" {
		t.Fatalf("fetch calls %v: the partition ends paused with %d records queued", got, len(w.queue))
	}
}

func TestWorkerResumesAtHalfBytes(t *testing.T) {
	w, fc := newTestWorker(t, Config{MaxBuffered: 1000, MaxBufferedBytes: 100})
	w.enqueue(records(0, sizes(10, 10)...)) // 100 bytes
	for range 4 {
		mustNext(t, w)
	}
	if _, r := fc.counts(); r != 0 {
		t.Fatal("resumed with 60 of MaxBufferedBytes=100 bytes queued")
	}
	mustNext(t, w) // 50 bytes: half
	if _, r := fc.counts(); r != 1 {
		t.Fatalf("resumes = %d with 50 of MaxBufferedBytes=100 bytes queued, want 1", r)
	}
}

// Resuming needs both bounds at half: few records but many bytes stay paused.
func TestWorkerResumeNeedsBothBoundsAtHalf(t *testing.T) {
	w, fc := newTestWorker(t, Config{MaxBuffered: 10, MaxBufferedBytes: 100})
	w.enqueue(records(0, append(sizes(9, 1), 100)...)) // 10 records, 109 bytes
	if p, _ := fc.counts(); p != 1 {
		t.Fatalf("pauses = %d, want 1", p)
	}
	for range 9 {
		mustNext(t, w) // down to 1 record of 100 bytes
	}
	if _, r := fc.counts(); r != 0 {
		t.Fatal("resumed with 100 of MaxBufferedBytes=100 bytes queued")
	}
	mustNext(t, w)
	if _, r := fc.counts(); r != 1 {
		t.Fatalf("resumes = %d with an empty queue, want 1", r)
	}
}

// An urgent outcome is committed before the next record is handled.
func TestWorkerCommitsUrgentAtOnce(t *testing.T) {
	h := newScriptedHandler()
	w, fc := newTestWorker(t, Config{Handler: h, CommitEvery: 100})
	w.enqueue(records(0, sizes(4, 1)...))
	start(t, w)

	h.awaitCall(t, 0)
	h.reply(t, result{}) // drop
	h.awaitCall(t, 1)
	wantCommits(t, fc) // a drop with more queued waits
	h.reply(t, result{urgent: true})
	h.awaitCall(t, 2)
	wantCommits(t, fc, 2)
	h.reply(t, result{urgent: true})
	h.awaitCall(t, 3)
	wantCommits(t, fc, 2, 3)
	h.reply(t, result{})
	awaitCommit(t, fc, 2)
	awaitCommit(t, fc, 3)
	awaitCommit(t, fc, 4) // idle
}

// Drops are committed once CommitEvery of them are pending, not before.
func TestWorkerBatchesDropsUpToCommitEvery(t *testing.T) {
	h := newScriptedHandler()
	w, fc := newTestWorker(t, Config{Handler: h, CommitEvery: 3})
	w.enqueue(records(0, sizes(8, 1)...))
	start(t, w)

	want := []int64{}
	for off := range int64(8) {
		h.awaitCall(t, off)
		// After offsets 0..off-1 are final: a commit at 3 and at 6 only.
		if off == 3 || off == 6 {
			want = append(want, off)
		}
		wantCommits(t, fc, want...)
		h.reply(t, result{})
	}
	awaitCommit(t, fc, 3)
	awaitCommit(t, fc, 6)
	awaitCommit(t, fc, 8) // the queue went idle with 2 pending
	wantCommits(t, fc, 3, 6, 8)
}

// A drop is committed as soon as the queue is empty, however few are pending,
// and again after later records drain.
func TestWorkerCommitsOnIdle(t *testing.T) {
	h := newScriptedHandler()
	w, fc := newTestWorker(t, Config{Handler: h, CommitEvery: 500})
	w.enqueue(records(0, 1, 1))
	start(t, w)

	h.awaitCall(t, 0)
	h.reply(t, result{})
	h.awaitCall(t, 1)
	wantCommits(t, fc) // not idle yet
	h.reply(t, result{})
	awaitCommit(t, fc, 2)

	w.enqueue(records(2, 1))
	h.handle(t, 2, result{})
	awaitCommit(t, fc, 3)

	// The revocation's final commit has nothing newer to commit.
	w.cancel()
	<-w.done
	w.commit(context.Background())
	wantCommits(t, fc, 2, 3)
}

// A non-final outcome stops the worker; neither the worker nor the
// revocation's final commit goes past the last final record.
func TestWorkerNeverCommitsPastHandlerError(t *testing.T) {
	h := newScriptedHandler()
	w, fc := newTestWorker(t, Config{Handler: h, CommitEvery: 500})
	w.enqueue(records(0, sizes(4, 1)...))
	start(t, w)

	h.handle(t, 0, result{urgent: true})
	awaitCommit(t, fc, 1)
	h.handle(t, 1, result{}) // final drop, not committed yet
	h.handle(t, 2, result{urgent: true, err: context.DeadlineExceeded})
	select {
	case <-w.done:
	case rec := <-h.calls:
		t.Fatalf("handler called with offset %d after a non-final outcome", rec.Offset)
	case <-time.After(waitFor):
		t.Fatal("worker did not stop after a non-final outcome")
	}
	wantCommits(t, fc, 1)

	// What the revocation path does after the worker stopped.
	w.commit(context.Background())
	wantCommits(t, fc, 1, 2)
	if w.committed.Load() != 2 {
		t.Fatalf("committed = %d, want 2", w.committed.Load())
	}
}

// A lost partition commits nothing, not even on the revocation path.
func TestWorkerNoCommitAfterLost(t *testing.T) {
	h := newScriptedHandler()
	w, fc := newTestWorker(t, Config{Handler: h, CommitEvery: 500})
	w.enqueue(records(0, 1, 1))
	start(t, w)
	h.handle(t, 0, result{})
	h.awaitCall(t, 1)
	w.noCommit.Store(true)
	w.cancel()
	<-w.done
	w.commit(context.Background())
	wantCommits(t, fc)
}

// Commits only move forward, each right after a final record, also when some
// commits fail (retried before the next record) and records arrive in
// several polls.
func TestWorkerCommitsInOrder(t *testing.T) {
	const n = 300
	var handled []int64 // only touched by the worker goroutine until done
	var notified []int64
	cfg := Config{
		CommitEvery: 7,
		CommitRetry: time.Millisecond,
		Handler: HandlerFunc(func(_ context.Context, rec *kgo.Record) (bool, error) {
			handled = append(handled, rec.Offset)
			return rec.Offset%11 == 0, nil
		}),
		OnCommit: func(p int32, next int64) {
			if p != testPartition {
				panic("OnCommit for another partition")
			}
			notified = append(notified, next)
		},
	}
	w, fc := newTestWorker(t, cfg)
	fc.failCommit = func(call int) bool { return call%5 == 0 }
	start(t, w)
	for off := int64(0); off < n; off += 50 {
		w.enqueue(records(off, sizes(50, 1)...))
	}
	deadline := time.Now().Add(waitFor)
	for {
		if c := fc.commitLog(); len(c) > 0 && c[len(c)-1] == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last commit never reached %d: %v", n, fc.commitLog())
		}
		select {
		case <-fc.committed:
		case <-time.After(waitFor):
		}
	}
	w.cancel()
	<-w.done

	commits := fc.commitLog()
	for i := 1; i < len(commits); i++ {
		if commits[i] <= commits[i-1] {
			t.Fatalf("commit %d (next %d) not after commit %d (next %d): %v", i, commits[i], i-1, commits[i-1], commits)
		}
	}
	if !reflect.DeepEqual(notified, commits) {
		t.Fatalf("OnCommit saw %v, client committed %v", notified, commits)
	}
	for i, off := range handled {
		if off != int64(i) {
			t.Fatalf("handled offset %d at position %d: out of order", off, i)
		}
	}
	if len(handled) != n {
		t.Fatalf("handled %d records, want %d", len(handled), n)
	}
	if fc.attempts() == len(commits) {
		t.Fatal("no commit failed; the retry path was not exercised")
	}
}

// A failed commit is retried before the next record is handled: a broker
// that takes no commits must not let the worker deliver more leads, which a
// lost partition would send again.
func TestWorkerRetriesFailedCommitBeforeTheNextRecord(t *testing.T) {
	h := newScriptedHandler()
	notified := make(chan int64, 10)
	w, fc := newTestWorker(t, Config{Handler: h, CommitEvery: 500, CommitRetry: time.Millisecond,
		OnCommit: func(_ int32, next int64) { notified <- next }})
	fc.failCommit = func(call int) bool { return call <= 3 }
	w.enqueue(records(0, 1, 1))
	start(t, w)
	h.handle(t, 0, result{urgent: true}) // commit fails, and twice more
	h.awaitCall(t, 1)                    // only once the retry went through
	if got := fc.attempts(); got != 4 {
		t.Fatalf("CommitRecords called %d times before the next record, want 4 (three failed, one went through)", got)
	}
	wantCommits(t, fc, 1)
	h.reply(t, result{}) // idle: commits the second
	awaitCommit(t, fc, 1)
	awaitCommit(t, fc, 2)
	w.cancel()
	<-w.done
	if a, b := <-notified, <-notified; a != 1 || b != 2 || len(notified) != 0 {
		t.Fatalf("OnCommit told of %d, %d (and %d more), want 1, 2", a, b, len(notified))
	}
}
