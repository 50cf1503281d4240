package consumer

// Test doubles for the broker-free worker tests in worker_test.go. The worker
// talks to franz-go only through fetchCommitter, which fakeClient replaces;
// timing is driven by channels (a scripted handler announces each record and
// waits for its outcome), never by sleeps.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	testTopic     = "leads"
	testPartition = int32(3)
	waitFor       = 5 * time.Second // deadline for something that must happen
)

// fakeClient records the worker's calls to the franz-go client.
type fakeClient struct {
	mu      sync.Mutex
	pauses  []map[string][]int32
	resumes []map[string][]int32
	commits []int64 // next offsets of successful commits, in call order
	calls   int     // CommitRecords calls, failed ones included
	// failCommit, if set, makes the n-th CommitRecords call (1-based) fail.
	failCommit func(n int) bool
	committed  chan int64 // receives every successful commit's next offset
	// order lists "pause" and "resume" calls as they complete.
	order []string
	// pausing, if set, is told when a pause call starts; the call then
	// waits for pauseGate to close before it takes effect.
	pausing   chan struct{}
	pauseGate chan struct{}
}

func newFakeClient() *fakeClient { return &fakeClient{committed: make(chan int64, 1024)} }

func (f *fakeClient) PauseFetchPartitions(m map[string][]int32) map[string][]int32 {
	if f.pausing != nil {
		f.pausing <- struct{}{}
		<-f.pauseGate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pauses = append(f.pauses, m)
	f.order = append(f.order, "pause")
	return m
}

func (f *fakeClient) ResumeFetchPartitions(m map[string][]int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resumes = append(f.resumes, m)
	f.order = append(f.order, "resume")
}

func (f *fakeClient) CommitRecords(_ context.Context, rs ...*kgo.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(rs) != 1 || rs[0].Topic != testTopic || rs[0].Partition != testPartition {
		return fmt.Errorf("unexpected commit of %d records", len(rs))
	}
	if f.failCommit != nil && f.failCommit(f.calls) {
		return errors.New("injected commit failure")
	}
	next := rs[0].Offset + 1
	f.commits = append(f.commits, next)
	f.committed <- next
	return nil
}

func (f *fakeClient) counts() (pauses, resumes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pauses), len(f.resumes)
}

func (f *fakeClient) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeClient) commitLog() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.commits...)
}

// newTestWorker builds a worker of a Consumer without a kgo client.
func newTestWorker(t *testing.T, cfg Config) (*worker, *fakeClient) {
	t.Helper()
	cfg.Topic = testTopic
	cfg.setDefaults()
	fc := newFakeClient()
	c := &Consumer{cfg: cfg, fc: fc, log: cfg.Logger, workers: map[int32]*worker{}}
	w := newWorker(c, testPartition)
	t.Cleanup(w.cancel)
	return w, fc
}

// start runs the worker and makes the test wait for it to end.
func start(t *testing.T, w *worker) {
	t.Helper()
	go w.run()
	t.Cleanup(func() {
		w.cancel()
		select {
		case <-w.done:
		case <-time.After(waitFor):
			t.Error("worker did not stop after cancel")
		}
	})
}

func records(from int64, sizes ...int) []*kgo.Record {
	rs := make([]*kgo.Record, len(sizes))
	for i, n := range sizes {
		rs[i] = &kgo.Record{Topic: testTopic, Partition: testPartition, Offset: from + int64(i), Value: make([]byte, n)}
	}
	return rs
}

func sizes(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

func mustNext(t *testing.T, w *worker) *kgo.Record {
	t.Helper()
	rec, _, ok := w.next(nil)
	if !ok {
		t.Fatal("next: worker cancelled")
	}
	return rec
}

// result is a scripted handler outcome.
type result struct {
	urgent bool
	err    error
}

// scriptedHandler hands each record to the test and returns the outcome the
// test sends back, so the test knows exactly where the worker is: once it
// received record k, every commit decision about record k-1 was made.
type scriptedHandler struct {
	calls   chan *kgo.Record
	results chan result
}

func newScriptedHandler() *scriptedHandler {
	return &scriptedHandler{calls: make(chan *kgo.Record), results: make(chan result)}
}

func (h *scriptedHandler) Handle(ctx context.Context, rec *kgo.Record) (bool, error) {
	select {
	case h.calls <- rec:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case r := <-h.results:
		return r.urgent, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// handle waits for the handler to be called with offset and makes it return r.
func (h *scriptedHandler) handle(t *testing.T, offset int64, r result) {
	t.Helper()
	h.awaitCall(t, offset)
	select {
	case h.results <- r:
	case <-time.After(waitFor):
		t.Fatalf("handler of offset %d did not take its result", offset)
	}
}

// awaitCall waits for the handler to be called with offset, without replying.
func (h *scriptedHandler) awaitCall(t *testing.T, offset int64) {
	t.Helper()
	select {
	case rec := <-h.calls:
		if rec.Offset != offset {
			t.Fatalf("handler called with offset %d, want %d", rec.Offset, offset)
		}
	case <-time.After(waitFor):
		t.Fatalf("handler not called with offset %d", offset)
	}
}

func (h *scriptedHandler) reply(t *testing.T, r result) {
	t.Helper()
	select {
	case h.results <- r:
	case <-time.After(waitFor):
		t.Fatal("handler did not take its result")
	}
}

func wantCommits(t *testing.T, fc *fakeClient, want ...int64) {
	t.Helper()
	if got := fc.commitLog(); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("commits = %v, want %v", got, want)
	}
}

func awaitCommit(t *testing.T, fc *fakeClient, next int64) {
	t.Helper()
	select {
	case got := <-fc.committed:
		if got != next {
			t.Fatalf("committed next offset %d, want %d", got, next)
		}
	case <-time.After(waitFor):
		t.Fatalf("no commit of next offset %d (commits %v)", next, fc.commitLog())
	}
}
