//go:build e2e

package e2e

import (
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// want is the defined outcome of a produced record.
type want int

const (
	wantLead want = iota // a lead in Close (at least once)
	wantDrop             // dropped and counted
	wantDLQ              // in the DLQ with closesink.error.class == class
)

// item is one produced record and its defined outcome. Every record has a
// unique key, which the DLQ keeps, so its fate can be looked up.
type item struct {
	key       string
	partition int32
	value     []byte
	headers   []kgo.RecordHeader
	want      want
	email     string // wantLead: the address the lead must carry
	class     string // wantDLQ: the expected class
	what      string // a description for failure messages
}

func (it item) record(topic string) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: it.partition, Key: []byte(it.key), Value: it.value, Headers: it.headers}
}

// leadEvent is an identified, consenting "Lead Submitted" track event.
func leadEvent(msgID, email string) []byte {
	return fmt.Appendf(nil, `{"type":"track","event":"Lead Submitted","messageId":%q,"traits":{"email":%q,`+
		`"firstName":"E2E","lastName":"Lead","company":"Fault Suite"},"context":{"consent":{"marketing":true}}}`, msgID, email)
}

func leadItem(prefix string, i int) item {
	key := fmt.Sprintf("%s-lead-%d", prefix, i)
	email := fmt.Sprintf("%s.%d@leads.example.com", prefix, i)
	return item{key: key, value: leadEvent(key, email), want: wantLead, email: email, what: "lead"}
}

// mix is a backlog: leads, page views (dropped no_mapped_name), records that are
// not JSON (invalid_event) and leads the emulator rejects with 422
// (permanent, see rejected), shuffled and spread round-robin over the
// partitions.
type mix struct{ leads, drops, invalid, rejected int }

func (s *suite) backlog(prefix string, partitions int32, m mix) []item {
	var items []item
	for i := range m.leads {
		items = append(items, leadItem(prefix, i))
	}
	for i := range m.drops {
		key := fmt.Sprintf("%s-page-%d", prefix, i)
		items = append(items, item{key: key, want: wantDrop, what: "page view",
			value: fmt.Appendf(nil, `{"type":"page","name":"Pricing","messageId":%q,"properties":{"path":"/pricing"}}`, key)})
	}
	for i := range m.invalid {
		items = append(items, item{key: fmt.Sprintf("%s-broken-%d", prefix, i), want: wantDLQ, class: "invalid_event",
			value: []byte(`{"type":"track","event":"Lead Submitted",`), what: "truncated JSON"})
	}
	for i := range m.rejected {
		it := leadItem(prefix+".rejected", i)
		it.want, it.class, it.what = wantDLQ, "permanent", "lead Close rejects (422)"
		items = append(items, it)
	}
	s.rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	for i := range items {
		items[i].partition = int32(i) % partitions
	}
	return items
}

// rejectedEmails maps the emails of the backlog's permanent failures to
// the status the emulator must answer for them.
func rejectedEmails(items []item) map[string]int {
	out := map[string]int{}
	for _, it := range items {
		if it.want == wantDLQ && it.class == "permanent" && it.email != "" {
			out[it.email] = 422
		}
	}
	return out
}

func (s *suite) produce(cl *kgo.Client, topic string, items []item) {
	s.t.Helper()
	const batch = 200
	for len(items) > 0 {
		n := min(batch, len(items))
		recs := make([]*kgo.Record, n)
		for i := range n {
			recs[i] = items[i].record(topic)
		}
		kafkatest.Produce(s.t, cl, recs...)
		items = items[n:]
	}
}

// ledger is the account a scenario ends with.
type ledger struct {
	scenario string
	topic    string
	dlq      string
	group    string
	items    []item
	dropped  int  // drops the processes counted
	atLeast  bool // dropped may exceed the drops produced (records re-read after a kill)
	extra    []string
}

// result is what settle found.
type result struct {
	delivered, duplicates, dlq int
	byEmail                    map[string]int
}

// settle reads what Close and the DLQ hold, prints the ledger line and fails
// the test for every record without its defined outcome, an uncounted drop,
// an unexpected lead or DLQ record, or a committed offset short of the end.
func (s *suite) settle(l ledger) result {
	t := s.t
	t.Helper()
	byEmail := s.emu.LeadsByEmail()
	dlqByKey := map[string][]*kgo.Record{}
	dlqTotal := 0
	for _, r := range s.b.ReadAll(t, l.dlq) {
		dlqTotal++
		dlqByKey[string(r.Key)] = append(dlqByKey[string(r.Key)], r)
	}
	var res result
	res.byEmail = byEmail
	var problems []string
	leads, drops, dlqWant := 0, 0, 0
	known := map[string]bool{}
	for _, it := range l.items {
		known[it.key] = true
		if it.email != "" {
			known["email:"+it.email] = true
		}
		n := byEmail[it.email]
		switch it.want {
		case wantLead:
			leads++
			switch {
			case n >= 1:
				res.delivered++
				res.duplicates += n - 1
			case len(dlqByKey[it.key]) > 0:
				problems = append(problems, fmt.Sprintf("%s (%s): dead-lettered as %s, want delivered",
					it.key, it.what, classOf(dlqByKey[it.key][0])))
			default:
				problems = append(problems, fmt.Sprintf("%s (%s): LOST: not in Close, not in the DLQ", it.key, it.what))
			}
		case wantDrop:
			drops++
		case wantDLQ:
			dlqWant++
			recs := dlqByKey[it.key]
			switch {
			case len(recs) == 0:
				problems = append(problems, fmt.Sprintf("%s (%s): not in the DLQ, want class %s", it.key, it.what, it.class))
			case classOf(recs[0]) != it.class:
				problems = append(problems, fmt.Sprintf("%s (%s): DLQ class %q, want %q", it.key, it.what, classOf(recs[0]), it.class))
			}
			if it.email != "" && n > 0 && it.class == "permanent" {
				problems = append(problems, fmt.Sprintf("%s (%s): in the DLQ and also created %d times", it.key, it.what, n))
			}
		}
	}
	for email, n := range byEmail {
		if !known["email:"+email] {
			problems = append(problems, fmt.Sprintf("Close holds %d lead(s) for %q, which no produced record names", n, email))
		}
	}
	for key, recs := range dlqByKey {
		if !known[key] {
			problems = append(problems, fmt.Sprintf("DLQ holds %d record(s) with key %q, which was never produced", len(recs), key))
		}
		for _, r := range recs {
			if classOf(r) == "" {
				problems = append(problems, fmt.Sprintf("DLQ record %q at offset %d has no %s header", key, r.Offset, deadletter.HeaderClass))
			}
		}
	}
	res.dlq = dlqTotal
	if l.dropped < drops || (!l.atLeast && l.dropped != drops) {
		problems = append(problems, fmt.Sprintf("%d drops counted, %d page views produced", l.dropped, drops))
	}
	lag := kafkatest.Lag(s.t, s.adm, l.group, l.topic)
	if lag != "" {
		problems = append(problems, "committed offsets short of the end offsets: "+lag)
	}
	droppedCmp := "=="
	if l.atLeast {
		droppedCmp = ">="
	}
	t.Logf("ledger scenario=%s produced=%d leads=%d delivered_unique=%d duplicates=%d dlq=%d (expected %d) dropped=%d (%s %d) committed==end:%v %s",
		l.scenario, len(l.items), leads, res.delivered, res.duplicates, dlqTotal, dlqWant, l.dropped, droppedCmp, drops,
		lag == "", strings.Join(l.extra, " "))
	sort.Strings(problems)
	for i, p := range problems {
		if i == 20 {
			t.Errorf("... and %d more", len(problems)-20)
			break
		}
		t.Errorf("ledger %s: %s", l.scenario, p)
	}
	return res
}

func classOf(r *kgo.Record) string { return header(r, deadletter.HeaderClass) }

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
