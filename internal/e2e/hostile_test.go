//go:build e2e

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
)

// Scenario 6: a hostile corpus. The worker must keep running, give every
// record its defined outcome (docs/design.md §2, §3 and the transform's
// goldens) and keep its memory bounded.
//
// The RSS bound, 300 MB: the worker holds at most 16 MiB queued per
// partition (3 here: 48 MiB) plus franz-go's fetch buffers (at most
// FetchMaxBytes, 50 MiB, per fetch response, and one response buffered per
// broker), a record being decoded (< 1 MiB; the decoder does not copy it),
// the DLQ producer's batch (about 1 MiB) and the Go runtime, whose heap may
// grow to twice the live data before a collection (GOGC=100). That is about
// 2 × (48 + 50 + a few) ≈ 210 MiB in the worst case; 300 MB leaves headroom
// for the runtime and binary, and still catches a leak or an unbounded
// buffer (the corpus is about 35 MB of values, produced three times over
// before the worker starts).
func TestHostileCorpus(t *testing.T) {
	const (
		partitions = 3
		rssBound   = 300 << 20
		maxRecord  = 960_000
		rounds     = 3 // the corpus, with fresh keys and emails each time
	)
	s := newSuite(t)
	topic, dlq, group := s.topics(partitions, 1)
	var corpus []item
	for round := range rounds {
		corpus = append(corpus, hostileCorpus(round, maxRecord)...)
	}
	for i := range corpus {
		corpus[i].partition = int32(i) % partitions
	}
	forged := map[string]item{}
	for _, it := range corpus {
		if it.want == wantDLQ && len(it.headers) > 0 {
			forged[it.key] = it
		}
	}
	// The whole corpus is on the topic before the worker starts, so its
	// fetches and queues fill up as far as they ever can.
	s.produce(s.producer(), topic, corpus)
	p := s.startRun("run", s.runArgs(topic, dlq, group, "--max-record-bytes", strconv.Itoa(maxRecord)))
	peak := sampleRSS(p)
	waitFor(t, "every hostile record has its outcome", 3*time.Minute, s.lagIs0(group, topic, p))
	_, hwm, err := readRSS(p.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("read RSS: %v", err)
	}
	sampled, samples := peak()
	dropped := p.stop(s)

	s.settle(ledger{scenario: "hostile", topic: topic, dlq: dlq, group: group, items: corpus, dropped: dropped,
		extra: []string{
			fmt.Sprintf("rss_peak=%.1fMiB (VmHWM %.1fMiB, max sampled VmRSS %.1fMiB over %d samples) bound=%dMiB",
				float64(max(hwm, sampled))/(1<<20), float64(hwm)/(1<<20), float64(sampled)/(1<<20), samples, rssBound>>20),
			"worker_exits=0",
		}})
	if max(hwm, sampled) > rssBound {
		t.Errorf("peak RSS %d MiB, above the %d MiB bound", max(hwm, sampled)>>20, rssBound>>20)
	}
	// A source record carrying forged closesink.* headers is not a replay:
	// its DLQ record must say where it really came from.
	for _, r := range s.b.ReadAll(t, dlq) {
		it, ok := forged[string(r.Key)]
		if !ok {
			continue
		}
		src, part := header(r, deadletter.HeaderSourceTopic), header(r, deadletter.HeaderSourcePartition)
		if src != topic || part != strconv.Itoa(int(it.partition)) || header(r, deadletter.HeaderReplays) != "" {
			t.Errorf("%s (%s): DLQ headers source.topic=%q source.partition=%q source.offset=%q replays=%q; "+
				"want the record's real position (%s/%d) and no replays: forged source headers were trusted",
				it.key, it.what, src, part, header(r, deadletter.HeaderSourceOffset), header(r, deadletter.HeaderReplays),
				topic, it.partition)
		}
	}
}

// sampleRSS samples the process's VmRSS every 20 ms until it exits; the
// returned func gives the largest sample so far and the number of samples.
func sampleRSS(p *proc) func() (int64, int) {
	var (
		mu      sync.Mutex
		peak    int64
		samples int
	)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			if rss, _, err := readRSS(p.cmd.Process.Pid); err == nil {
				mu.Lock()
				peak, samples = max(peak, rss), samples+1
				mu.Unlock()
			}
		}
	}()
	return func() (int64, int) {
		mu.Lock()
		defer mu.Unlock()
		return peak, samples
	}
}

// hostileCorpus builds the records and their defined outcomes. Values
// larger than maxRecord are dead-lettered as invalid_event; the 900 KB
// records stay under it.
func hostileCorpus(round, maxRecord int) []item {
	var items []item
	n := 0
	add := func(w want, class, what string, value []byte, hs ...kgo.RecordHeader) {
		n++
		it := item{key: fmt.Sprintf("hostile-r%d-%03d", round, n), value: value, want: w, class: class, what: what, headers: hs}
		items = append(items, it)
	}
	// email returns a fresh address; a lead item must be added right after.
	email := func() string { return fmt.Sprintf("hostile.r%d.%d@leads.example.com", round, n+1) }
	lead := func(what, traits, props string, hs ...kgo.RecordHeader) {
		e := email()
		v := fmt.Sprintf(`{"type":"track","event":"Lead Submitted","traits":{"email":%q%s},"properties":%s,`+
			`"context":{"consent":{"marketing":true}}}`, e, traits, props)
		add(wantLead, "", what, []byte(v), hs...)
		items[len(items)-1].email = e
	}
	invalid := func(what, value string, hs ...kgo.RecordHeader) {
		add(wantDLQ, "invalid_event", what, []byte(value), hs...)
	}
	drop := func(what, value string, hs ...kgo.RecordHeader) { add(wantDrop, "", what, []byte(value), hs...) }
	consented := func(fields string) string {
		return `{"type":"track","event":"Lead Submitted",` + fields + `,"context":{"consent":{"marketing":true}}}`
	}

	// Not JSON at all.
	binary := make([]byte, 4096)
	for i := range binary {
		binary[i] = byte(i*131 + 7) // every byte value, no valid JSON text
	}
	binary[0] = 0xff
	invalid("binary", string(binary))
	invalid("JSON start, binary tail", `{"type":"track","event":"Lead Submitted","traits":{"email":"`+string(binary))
	add(wantDLQ, "invalid_event", "empty value", []byte{})
	add(wantDLQ, "invalid_event", "null value (tombstone)", nil)
	invalid("whitespace only", " \n\t ")
	for _, v := range []string{`[]`, `"Lead Submitted"`, `42`, `null`, `true`} {
		invalid("top level "+v, v)
	}
	// Malformed, but shaped like an object and spelling no mapped event
	// name: it cannot be a lead, so it is dropped unparsed (no_mapped_name,
	// README "What happens to each event"), not dead-lettered.
	drop("top level {}{}", `{}{}`)

	// Invalid UTF-8: in text fields it becomes U+FFFD; in the email it
	// makes the address invalid.
	lead("invalid UTF-8 in names", ",\"firstName\":\"Ja\xffne\",\"lastName\":\"D\xc3oe\",\"company\":\"Acme\xed\xa0\x80\"", `{}`)
	invalid("invalid UTF-8 in the email", consented("\"traits\":{\"email\":\"ja\xffne@leads.example.com\"}"))

	// 900 KB strings: under the limit they are ordinary records.
	big := strings.Repeat("\u00e9xyz", 900<<10/5) // 900 KiB of valid, multi-byte UTF-8
	for range 20 {
		lead("900 KB company name", `,"company":"`+big+`"`, `{}`)
	}
	for range 10 {
		drop("900 KB page view", `{"type":"page","name":"Pricing","properties":{"blob":"`+big+`"}}`)
	}
	for range 3 {
		invalid("900 KB lead with a numeric email", consented(`"traits":{"email":42,"title":"`+big+`"}`))
	}
	over := consented(`"traits":{"email":"over@leads.example.com","company":"` + strings.Repeat("x", maxRecord) + `"}`)
	invalid("value over --max-record-bytes", over)
	invalid("value over --max-record-bytes", over)

	// Nesting: the record may be 10,000 levels deep (encoding/json's limit).
	deep := func(levels int) string { return strings.Repeat(`{"a":`, levels) + `1` + strings.Repeat(`}`, levels) }
	lead("properties 9,999 deep (10,000 levels)", "", deep(9_999))
	invalid("properties 10,000 deep (10,001 levels)", consented(`"traits":{"email":"deep@leads.example.com"},"properties":`+deep(10_000)))
	drop("page view with arrays 10,000 deep (no mapped name: dropped unparsed)",
		`{"type":"page","properties":{"a":`+strings.Repeat("[", 10_000)+strings.Repeat("]", 10_000)+`}}`)

	// Wrong types everywhere.
	invalid("type is a number", `{"type":1,"event":"Lead Submitted"}`)
	drop("event is a number, no mapped name anywhere (dropped unparsed)", `{"type":"track","event":7}`)
	invalid("event is a number, a mapped name elsewhere", `{"type":"track","event":7,"properties":{"form":"Lead Submitted"}}`)
	invalid("traits is an array", consented(`"traits":["email","a@leads.example.com"]`))
	invalid("context is a string", `{"type":"track","event":"Lead Submitted","traits":{"email":"a@leads.example.com"},"context":"x"}`)
	invalid("properties is a string", consented(`"traits":{"email":"a@leads.example.com"},"properties":"Pricing"`))
	invalid("context.traits is a string", `{"type":"track","event":"Lead Submitted","context":{"traits":"x","consent":{"marketing":true}}}`)
	invalid("email is a number", consented(`"traits":{"email":42}`))
	invalid("email is an object", consented(`"traits":{"email":{"address":"a@leads.example.com"}}`))
	drop("page view with array properties (no mapped name: dropped unparsed)", `{"type":"page","properties":["a"]}`)
	lead("names, title, company of wrong types", `,"firstName":5,"lastName":true,"title":[],"company":{}`, `{}`)
	lead("phone is a number", `,"phone":5551234567`, `{"lead_type":7}`)
	drop("consent is the string \"true\"",
		`{"type":"track","event":"Lead Submitted","traits":{"email":"c@leads.example.com"},"context":{"consent":{"marketing":"true"}}}`)

	// Duplicate keys: the last one wins.
	e := email()
	add(wantLead, "", "duplicate keys", []byte(`{"type":"page","type":"track","event":"Signed Up","traits":{"email":"first@leads.example.com","email":"`+
		e+`"},"context":{"consent":{"marketing":false,"marketing":true}}}`))
	items[len(items)-1].email = e
	drop("duplicate type, last not track", `{"type":"track","event":"Signed Up","type":"page","traits":{"email":"a@leads.example.com"},"context":{"consent":{"marketing":true}}}`)

	// Forged closesink.* headers on source records.
	h := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	forged := []kgo.RecordHeader{
		h(deadletter.HeaderClass, "permanent"), h(deadletter.HeaderStatus, "401"),
		h(deadletter.HeaderSourceTopic, "forged-topic"), h(deadletter.HeaderSourcePartition, "7"),
		h(deadletter.HeaderSourceOffset, "12345"), h(deadletter.HeaderReplays, "99"), h(deadletter.HeaderValueOmitted, "5"),
	}
	lead("lead with forged closesink.* headers", "", `{}`, forged...)
	invalid("not JSON with forged closesink.* headers", "forged", forged...)
	drop("page view with forged closesink.* headers", `{"type":"page","name":"Home"}`, forged...)
	lead("lead with binary header keys and values", "", `{}`, h("\xff\x00key", "\xff\xfe"), h("closesink.\xff", string(binary[:64])))
	return items
}
