package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeapi"
	"github.com/closesink/closesink/pkg/closeemu"
)

// The product page's "Example: Lead Submitted", as Signal puts it on the topic.
const seedEvent = `{"type":"track","event":"Lead Submitted","messageId":"m-seed","userId":"user-123",
 "properties":{"lead_type":"Pricing enquiry"},
 "traits":{"email":"jane.doe@acme.com","phone":"+44 7700 900123","firstName":"Jane","lastName":"Doe",
           "title":"Head of Growth","company":"Acme Inc"},
 "context":{"page":{"url":"https://example.com/contact"},"consent":{"marketing":true}}}`

const seedPayload = `{"name":"Acme Inc","status_id":"stat_xxxxxxxxxxxxxxxxxxxxxxxx","url":"https://example.com/contact",
 "description":"Pricing enquiry","contacts":[{"name":"Jane Doe","title":"Head of Growth",
 "emails":[{"email":"jane.doe@acme.com"}],"phones":[{"phone":"+447700900123"}]}]}`

func TestSeedExampleEndToEnd(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.produce(0, seedEvent)
	h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.LeadStatusID = "stat_xxxxxxxxxxxxxxxxxxxxxxxx" }})
	eventually(t, "offsets committed", h.lag)
	bodies := h.emu.LeadBodies()
	if len(bodies) != 1 {
		t.Fatalf("Close received %d leads, want 1", len(bodies))
	}
	var got, want closeapi.Lead
	if err := json.Unmarshal(bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(seedPayload), &want); err != nil {
		t.Fatal(err)
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Fatalf("Close received\n%s\nwant\n%s", g, w)
	}
}

func TestMixedOutcomesAllCommitted(t *testing.T) {
	h := newHarness(t, 2, 1, closeemu.Config{})
	noEmail := `{"type":"track","event":"Lead Submitted","traits":{"firstName":"A"},"context":{"consent":{"marketing":true}}}`
	noConsent := `{"type":"track","event":"Signed Up","traits":{"email":"nc@x.com"},"context":{"consent":{"marketing":false}}}`
	pageView := `{"type":"page","name":"Pricing","context":{"page":{"url":"https://x"}}}`
	otherTrack := `{"type":"track","event":"Button Clicked","traits":{"email":"o@x.com"}}`
	badEmail := `{"type":"track","event":"Demo Requested","traits":{"email":"not-an-email"},"context":{"consent":{"marketing":true}}}`
	huge := `{"type":"track","event":"Lead Submitted","pad":"` + strings.Repeat("x", 20<<10) + `"}`
	h.produce(0, lead("a@x.com"), pageView, "not json at all", noEmail, lead("b@x.com"), "")
	h.produce(1, otherTrack, noConsent, badEmail, lead("c@x.com"), huge, `[1,2,3]`)
	h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.MaxRecordBytes = 16 << 10 }})
	eventually(t, "offsets committed", h.lag)

	emails := h.createdEmails()
	if len(emails) != 3 || emails["a@x.com"] != 1 || emails["b@x.com"] != 1 || emails["c@x.com"] != 1 {
		t.Fatalf("created leads by email: %v", emails)
	}
	dlq := h.readDLQ(5) // not json, empty, bad email, huge, array
	byValue := map[string]*kgo.Record{}
	for _, r := range dlq {
		if c := header(r, deadletter.HeaderClass); c != "invalid_event" {
			t.Errorf("DLQ record %q: class %q, want invalid_event", trim(r.Value), c)
		}
		if header(r, deadletter.HeaderMessage) == "" || header(r, deadletter.HeaderSourceTopic) != h.topic {
			t.Errorf("DLQ record %q lacks message or source: %v", trim(r.Value), r.Headers)
		}
		byValue[string(r.Value)] = r
	}
	for _, v := range []string{"not json at all", "", badEmail, huge, "[1,2,3]"} {
		if byValue[v] == nil {
			t.Errorf("DLQ lacks %q", trim([]byte(v)))
		}
	}
	if m := header(byValue[huge], deadletter.HeaderMessage); !strings.Contains(m, "limit") {
		t.Errorf("huge record message %q does not name the limit", m)
	}
}

func trim(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

func TestPermanentFailuresLandInDLQWithHeaders(t *testing.T) {
	t.Run("401 revoked key", func(t *testing.T) {
		h := newHarness(t, 1, 1, closeemu.Config{})
		h.start(memberOpts{name: "a"})
		// The key passes the start-up check (Close's first answer, a 200),
		// then is revoked before any lead.
		eventually(t, "key accepted", func() string {
			if h.emu.Stats().ByStatus[http.StatusOK] == 0 {
				return "no key check answered yet"
			}
			return ""
		})
		h.emu.RevokeKey(goodKey)
		h.produce(0, lead("a@x.com"), lead("b@x.com"))
		eventually(t, "offsets committed", h.lag)
		for i, r := range h.readDLQ(2) {
			checkHeaders(t, r, "permanent", "401", "Unauthorized", h.topic, int64(i))
		}
		if n := len(h.emu.Leads()); n != 0 {
			t.Fatalf("%d leads created with a bad key", n)
		}
	})
	t.Run("400 unknown status", func(t *testing.T) {
		h := newHarness(t, 1, 1, closeemu.Config{Statuses: []string{"stat_known"}})
		h.produce(0, lead("a@x.com"))
		h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.LeadStatusID = "stat_unknown" }})
		eventually(t, "offsets committed", h.lag)
		checkHeaders(t, h.readDLQ(1)[0], "permanent", "400", "status", h.topic, 0)
	})
}

// A key Close rejects at start stops Run with a setup error before it
// consumes anything: every lead would only be dead-lettered with 401.
func TestRunRefusesRejectedKey(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.produce(0, lead("a@x.com"))
	cfg := h.config()
	cfg.APIKey = "api_revokedrevokedrevoked"
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := service.Run(ctx, cfg, zaptest.NewLogger(t), service.Options{Delivery: fastDelivery}); !errors.Is(err, service.ErrSetup) {
		t.Fatalf("Run = %v, want ErrSetup", err)
	}
	if n, c := h.requests(leadRoute), h.at(0); n != 0 || c != 0 {
		t.Fatalf("a refused start sent %d leads and committed %d", n, c)
	}
}

func checkHeaders(t *testing.T, r *kgo.Record, class, status, msgPart, topic string, offset int64) {
	t.Helper()
	want := map[string]string{
		deadletter.HeaderClass: class, deadletter.HeaderStatus: status,
		deadletter.HeaderSourceTopic: topic, deadletter.HeaderSourcePartition: "0",
		deadletter.HeaderSourceOffset: fmt.Sprint(offset), deadletter.HeaderAttempts: "1",
	}
	for k, v := range want {
		if got := header(r, k); got != v {
			t.Errorf("offset %d: %s = %q, want %q", offset, k, got, v)
		}
	}
	if m := header(r, deadletter.HeaderMessage); !strings.Contains(m, msgPart) {
		t.Errorf("message %q does not contain %q", m, msgPart)
	}
	for _, k := range []string{deadletter.HeaderFailedAt, deadletter.HeaderSourceTimestamp} {
		if header(r, k) == "" {
			t.Errorf("%s missing", k)
		}
	}
}

func Test5xxStormEndsInDelivery(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	h.emu.SetFaults(closeemu.Faults{Script: []int{503, 502, 500, 503, 504, 503, 500, 502}})
	h.produce(0, lead("a@x.com"), lead("b@x.com"), lead("c@x.com"))
	h.start(memberOpts{name: "a"})
	eventually(t, "offsets committed", h.lag)
	emails := h.createdEmails()
	if len(emails) != 3 || emails["a@x.com"] != 1 || emails["b@x.com"] != 1 || emails["c@x.com"] != 1 {
		t.Fatalf("created: %v", emails)
	}
	if n := h.requests(leadRoute); n != 11 {
		t.Fatalf("lead requests = %d, want 8 failures + 3 successes", n)
	}
}

// failingProducer fails every dead-letter write while failing is set.
type failingProducer struct {
	real    deadletter.Producer
	failing atomic.Bool
	tries   atomic.Int64
}

func (p *failingProducer) ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	p.tries.Add(1)
	if p.failing.Load() {
		return kgo.ProduceResults{{Record: rs[0], Err: errors.New("injected: DLQ unavailable")}}
	}
	return p.real.ProduceSync(ctx, rs...)
}

func TestDLQFailureStallsWithoutCommitting(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	fp := &failingProducer{}
	fp.failing.Store(true)
	h.produce(0, lead("a@x.com"), "garbage", lead("b@x.com"))
	h.start(memberOpts{name: "a", opts: service.Options{DLQ: service.DLQTuning{
		WrapProducer: func(real deadletter.Producer) deadletter.Producer { fp.real = real; return fp }}}})
	eventually(t, "DLQ write retried", func() string {
		if fp.tries.Load() < 3 {
			return "fewer than 3 tries"
		}
		return ""
	})
	// The lead before the bad record is final and committed; nothing after it.
	if c := h.at(0); c != 1 {
		t.Fatalf("committed offset %d while the DLQ write is failing, want 1", c)
	}
	if e := h.createdEmails(); e["b@x.com"] != 0 {
		t.Fatal("the record after the stalled one was processed: the partition skipped ahead")
	}
	fp.failing.Store(false)
	eventually(t, "offsets committed", h.lag)
	h.readDLQ(1)
	if e := h.createdEmails(); e["a@x.com"] != 1 || e["b@x.com"] != 1 {
		t.Fatalf("created: %v", e)
	}
}

// A producer's repeat of an event (same messageId) creates one lead, not two.
func TestRepeatedMessageIDCreatesOneLead(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	ev := `{"messageId":"m-1",` + lead("a@x.com")[1:]
	h.produce(0, ev, lead("b@x.com"), ev)
	h.start(memberOpts{name: "a", cfg: func(c *config.Config) { c.DedupeWindow = 100 }})
	eventually(t, "offsets committed", h.lag)
	if e := h.createdEmails(); e["a@x.com"] != 1 || e["b@x.com"] != 1 {
		t.Fatalf("created: %v", e)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
