package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// The service reads with read_committed: leads written in an aborted Kafka
// transaction never reach Close, those of a committed one do, and the
// committed offsets move past both to the end of the topic.
func TestHardeningAbortedTransactionsCreateNoLeads(t *testing.T) {
	h := newHarness(t, 2, 1, closeemu.Config{})
	txn := h.b.NewClient(t, kgo.TransactionalID(kafkatest.UniqueName(t, "txn")),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(30*time.Second))
	h.produceTxn(txn, kgo.TryAbort, "aborted-a@x.com", "aborted-b@x.com")
	h.produceTxn(txn, kgo.TryCommit, "committed-a@x.com", "committed-b@x.com")
	h.produceTxn(txn, kgo.TryAbort, "aborted-c@x.com", "aborted-d@x.com")
	// A plain record last on each partition: the committed offset can then
	// equal the end offset (a commit marker is never a record to commit past).
	h.produce(0, lead("plain-0@x.com"))
	h.produce(1, lead("plain-1@x.com"))

	h.start(memberOpts{name: "a"})
	eventually(t, "offsets committed to the end", h.lag)
	want := []string{"committed-a@x.com", "committed-b@x.com", "plain-0@x.com", "plain-1@x.com"}
	got := h.createdEmails()
	for _, e := range want {
		if got[e] != 1 {
			t.Errorf("%s created %d times, want 1", e, got[e])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("created %v: leads from aborted transactions reached Close", got)
	}
	if n := h.requests(leadRoute); n != len(want) {
		t.Fatalf("Close got %d lead requests, want %d", n, len(want))
	}
}

// produceTxn writes one lead per email, alternating over partitions 0 and 1,
// in one transaction that it then ends with commit (TryCommit or TryAbort).
func (h *harness) produceTxn(cl *kgo.Client, commit kgo.TransactionEndTry, emails ...string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		h.t.Fatalf("begin transaction: %v", err)
	}
	for i, e := range emails {
		r := &kgo.Record{Topic: h.topic, Partition: int32(i % 2), Key: []byte(e), Value: []byte(lead(e))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			h.t.Fatalf("produce %s in a transaction: %v", e, err)
		}
	}
	if err := cl.EndTransaction(ctx, commit); err != nil {
		h.t.Fatalf("end transaction (commit=%v): %v", commit, err)
	}
}
