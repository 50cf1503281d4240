package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/results"
)

// closeIDs maps each lead's email to the lead and contact ids Close gave it.
func (h *harness) closeIDs() map[string][2]string {
	out := map[string][2]string{}
	for _, l := range h.emu.Leads() {
		for _, c := range l.Contacts {
			for _, e := range c.Emails {
				out[e.Email] = [2]string{l.ID, c.ID}
			}
		}
	}
	return out
}

func readResults(t *testing.T, h *harness, topic string) map[string][]results.Record {
	t.Helper()
	out := map[string][]results.Record{}
	for _, r := range h.b.ReadAll(t, topic) {
		var rec results.Record
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatalf("results record %s: %v", r.Value, err)
		}
		if string(r.Key) != rec.MessageID {
			t.Errorf("results record keyed %q, want the source key %q", r.Key, rec.MessageID)
		}
		out[rec.MessageID] = append(out[rec.MessageID], rec)
	}
	return out
}

// Every delivered lead gets exactly one results record, keyed like its
// source record, with the ids Close returned, its action and its source
// position; drops and dead letters get none.
func TestResultsTopicHasOneRecordPerDeliveredLead(t *testing.T) {
	h := newHarness(t, 3, 1, closeemu.Config{})
	resultsTopic := h.b.CreateTopic(t, 2)
	type pos struct {
		p   int32
		off int64
	}
	want := map[string]pos{}
	for p := int32(0); p < 3; p++ {
		var emails []string
		for i := range 4 {
			e := fmt.Sprintf("p%d-%d@x.com", p, i)
			emails = append(emails, e)
			want[e] = pos{p, int64(i)}
		}
		h.produceLeads(p, emails...)
		h.produce(p, `{"type":"page","event":"Viewed"}`, `not json`) // a drop and a dead letter
	}
	h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.ResultsTopic = resultsTopic }})
	eventually(t, "offsets committed", h.lag)
	got, ids := readResults(t, h, resultsTopic), h.closeIDs()
	if len(got) != len(want) {
		t.Errorf("%d results records, want %d (one per delivered lead)", len(got), len(want))
	}
	for email, at := range want {
		rs := got[email]
		if len(rs) != 1 {
			t.Errorf("%s: %d results records, want exactly 1", email, len(rs))
			continue
		}
		r, id := rs[0], ids[email]
		if r.LeadID == "" || r.LeadID != id[0] || r.ContactID != id[1] || r.Action != "created" {
			t.Errorf("%s: result %+v, Close has lead %s contact %s", email, r, id[0], id[1])
		}
		if r.SourceTopic != h.topic || r.SourcePartition != at.p || r.SourceOffset != at.off || r.DeliveredAt.IsZero() {
			t.Errorf("%s: result source %s/%d@%d at %s, want %s/%d@%d", email, r.SourceTopic, r.SourcePartition, r.SourceOffset,
				r.DeliveredAt, h.topic, at.p, at.off)
		}
	}
}

// resultsOutage fails every produce while fail is set.
type resultsOutage struct {
	results.Producer
	fail     *atomic.Bool
	failures *atomic.Int64
}

func (f resultsOutage) ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	if f.fail.Load() {
		f.failures.Add(1)
		return kgo.ProduceResults{{Record: rs[0], Err: errors.New("injected: results topic unavailable")}}
	}
	return f.Producer.ProduceSync(ctx, rs...)
}

// A results write that keeps failing stalls the partition: the lead was
// created in Close, but neither it nor anything after it is committed,
// and the next record is not sent. When the topic takes writes again, the
// same write goes through (no second lead), and the partition moves on.
func TestFailingResultsWriteStallsThePartition(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	resultsTopic := h.b.CreateTopic(t, 1)
	var fail atomic.Bool
	var failures atomic.Int64
	fail.Store(true)
	h.produceLeads(0, "first@x.com", "second@x.com")
	h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.ResultsTopic = resultsTopic },
		opts: service.Options{Results: service.ResultsTuning{Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
			WrapProducer: func(p results.Producer) results.Producer {
				return resultsOutage{Producer: p, fail: &fail, failures: &failures}
			}}}})
	eventually(t, "the first lead created and its result retried", func() string {
		if n := failures.Load(); n < 5 || len(h.createdEmails()) != 1 {
			return fmt.Sprintf("%d failed writes, leads %v", n, h.createdEmails())
		}
		return ""
	})
	if at := h.at(0); at != 0 {
		t.Fatalf("committed %d while the result was not written", at)
	}
	if leads := h.createdEmails(); leads["second@x.com"] != 0 {
		t.Fatalf("the partition went on past a record that is not final: %v", leads)
	}
	fail.Store(false)
	eventually(t, "offsets committed", h.lag)
	if leads := h.createdEmails(); leads["first@x.com"] != 1 || leads["second@x.com"] != 1 {
		t.Fatalf("leads %v, want one each", leads)
	}
	if got := readResults(t, h, resultsTopic); len(got["first@x.com"]) != 1 || len(got["second@x.com"]) != 1 {
		t.Fatalf("results %v, want one each", got)
	}
}

// A results topic that does not exist is a setup error at start, like a
// missing dead-letter topic.
func TestMissingResultsTopicIsASetupError(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	cfg := h.config()
	cfg.ResultsTopic = h.topic + "-no-such-results"
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	err := service.Run(ctx, cfg, zaptest.NewLogger(t), service.Options{})
	if !errors.Is(err, service.ErrSetup) || !errors.Is(err, service.ErrMissingTopic) {
		t.Fatalf("Run: %v, want a setup error for the missing topic", err)
	}
}
