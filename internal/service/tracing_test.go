package service_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/closesink/closesink/internal/service"
	"github.com/closesink/closesink/pkg/closeemu"
	"github.com/closesink/closesink/pkg/kafkatest"
)

// Producers' trace contexts (W3C traceparent): the lead that is delivered,
// and the lead Close rejects (dead-lettered, then replayed).
const (
	producerTP1 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	producerTP2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
)

func newTestTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	return tp, exp
}

func parseTP(t *testing.T, tp string) trace.SpanContext {
	t.Helper()
	ctx := propagation.TraceContext{}.Extract(t.Context(), propagation.MapCarrier{"traceparent": tp})
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		t.Fatalf("invalid traceparent %q", tp)
	}
	return sc
}

func attrs(s tracetest.SpanStub) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value.Emit()
	}
	return m
}

// processSpans are the process spans of topic by offset.
func processSpans(t *testing.T, spans tracetest.SpanStubs, topic string) map[int64]tracetest.SpanStub {
	t.Helper()
	out := map[int64]tracetest.SpanStub{}
	for _, s := range spans {
		if s.Name == "process "+topic {
			for _, kv := range s.Attributes {
				if kv.Key == "messaging.kafka.offset" {
					out[kv.Value.AsInt64()] = s
				}
			}
		}
	}
	return out
}

func wantAttrs(t *testing.T, what string, s tracetest.SpanStub, want map[attribute.Key]string) {
	t.Helper()
	got := attrs(s)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: attribute %s = %q, want %q (all %v)", what, k, got[k], v, got)
		}
	}
}

// One run traces a delivered, a dropped and a dead-lettered record: each
// gets a process span continuing its producer's trace, the delivery's HTTP
// request is a client span under it and carries the trace to Close, and
// the dead letter keeps the producer's traceparent and names its first
// attempt; a replay of it links back to that attempt.
func TestTracingRunAndReplay(t *testing.T) {
	h := newHarness(t, 1, 1, closeemu.Config{})
	tp, exp := newTestTracing(t)
	var mu sync.Mutex
	var atClose string // the traceparent Close got with the first lead
	h.front.setOnLead(func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n == 2 { // the second lead: rejected for good
			http.Error(w, `{"error":"invalid lead"}`, http.StatusBadRequest)
			return true
		}
		mu.Lock()
		atClose = r.Header.Get("traceparent")
		mu.Unlock()
		return false
	})
	hdr := func(tp string) []kgo.RecordHeader { return []kgo.RecordHeader{{Key: "traceparent", Value: []byte(tp)}} }
	kafkatest.Produce(t, h.producer,
		&kgo.Record{Topic: h.topic, Key: []byte("a@x.com"), Value: []byte(lead("a@x.com")), Headers: hdr(producerTP1)},
		&kgo.Record{Topic: h.topic, Value: []byte(benchPageView)},
		&kgo.Record{Topic: h.topic, Key: []byte("b@x.com"), Value: []byte(lead("b@x.com")), Headers: hdr(producerTP2)})
	m := h.start(memberOpts{name: "traced", opts: service.Options{Tracing: tp}})
	eventually(t, "all three records committed", h.lag)
	m.stop(t)

	spans := exp.GetSpans()
	procs := processSpans(t, spans, h.topic)
	if len(procs) != 3 {
		t.Fatalf("%d process spans, want 3: %v", len(procs), spans)
	}
	common := map[attribute.Key]string{"messaging.system": "kafka", "messaging.destination.name": h.topic,
		"messaging.destination.partition.id": "0", "messaging.consumer.group.name": h.group, "messaging.operation.type": "process"}
	for off, s := range procs {
		wantAttrs(t, "process span", s, common)
		if s.SpanKind != trace.SpanKindConsumer {
			t.Errorf("offset %d: span kind %v", off, s.SpanKind)
		}
	}
	delivered, dropped, dead := procs[0], procs[1], procs[2]
	wantAttrs(t, "delivered", delivered, map[attribute.Key]string{"closesink.outcome": "delivered", "closesink.action": "created"})
	wantAttrs(t, "dropped", dropped, map[attribute.Key]string{"closesink.outcome": "dropped", "closesink.reason": "no_mapped_name"})
	wantAttrs(t, "dead-lettered", dead, map[attribute.Key]string{"closesink.outcome": "dead_lettered",
		"closesink.reason": "permanent", "error.type": "permanent", "closesink.http_status": "400"})
	if dead.Status.Code != codes.Error || delivered.Status.Code == codes.Error {
		t.Errorf("statuses: dead-lettered %v, delivered %v", dead.Status, delivered.Status)
	}
	for _, k := range []attribute.Key{"error.type", "messaging.kafka.message.key", "messaging.kafka.message_key"} {
		if v, ok := attrs(delivered)[k]; ok {
			t.Errorf("delivered span has %s=%q", k, v)
		}
	}
	// The producer's trace continues: process span → kotel's receive span →
	// the producer's span.
	p1, p2 := parseTP(t, producerTP1), parseTP(t, producerTP2)
	if delivered.SpanContext.TraceID() != p1.TraceID() || dead.SpanContext.TraceID() != p2.TraceID() {
		t.Errorf("trace ids %s, %s; want the producers' %s, %s", delivered.SpanContext.TraceID(),
			dead.SpanContext.TraceID(), p1.TraceID(), p2.TraceID())
	}
	if !chainsTo(spans, delivered, p1.SpanID()) {
		t.Errorf("the delivered record's process span does not descend from the producer's span %s", p1.SpanID())
	}
	if dropped.Parent.IsValid() && dropped.Parent.TraceID() == p1.TraceID() {
		t.Errorf("the dropped record (no traceparent) joined another record's trace")
	}
	// The Close request is a client span under the process span, and Close
	// was told the trace.
	var client *tracetest.SpanStub
	for i, s := range spans {
		if s.SpanKind == trace.SpanKindClient && s.Parent.SpanID() == delivered.SpanContext.SpanID() {
			client = &spans[i]
		}
	}
	if client == nil {
		t.Fatalf("no HTTP client span under the delivered record's process span: %v", spans)
	}
	wantAttrs(t, "client span", *client, map[attribute.Key]string{"http.request.method": "POST", "http.response.status_code": "200"})
	mu.Lock()
	if got := parseTP(t, atClose); got.TraceID() != p1.TraceID() || got.SpanID() != client.SpanContext.SpanID() {
		t.Errorf("Close got traceparent %q; want the client span %s of trace %s", atClose, client.SpanContext.SpanID(), p1.TraceID())
	}
	mu.Unlock()

	// The dead letter keeps the producer's traceparent and names the
	// process span that dead-lettered it.
	dl := h.readDLQ(1)[0]
	if got := header(dl, "traceparent"); got != producerTP2 {
		t.Errorf("DLQ traceparent %q, want the producer's %q", got, producerTP2)
	}
	first := parseTP(t, header(dl, service.HeaderTraceparent))
	if first.SpanID() != dead.SpanContext.SpanID() || first.TraceID() != dead.SpanContext.TraceID() {
		t.Errorf("DLQ %s = %s, want the first attempt's span %s", service.HeaderTraceparent, first.SpanID(), dead.SpanContext.SpanID())
	}

	// A replay delivers it: its process span continues the producer's trace
	// and links to the first attempt.
	h.front.setOnLead(nil)
	exp.Reset()
	if s := h.mustReplay(service.ReplayOptions{Tracing: tp}); s.Delivered != 1 {
		t.Fatalf("replay summary %+v", s)
	}
	rp := processSpans(t, exp.GetSpans(), h.dlq)
	if len(rp) != 1 {
		t.Fatalf("%d replay process spans, want 1: %v", len(rp), exp.GetSpans())
	}
	replayed := rp[0]
	wantAttrs(t, "replayed", replayed, map[attribute.Key]string{"closesink.outcome": "delivered",
		"messaging.destination.name": h.dlq, "messaging.consumer.group.name": h.replayGroup})
	if replayed.SpanContext.TraceID() != p2.TraceID() {
		t.Errorf("replay trace %s, want the producer's %s", replayed.SpanContext.TraceID(), p2.TraceID())
	}
	if len(replayed.Links) != 1 || !replayed.Links[0].SpanContext.Equal(first) {
		t.Errorf("replay links %+v, want one to the first attempt %s", replayed.Links, first.SpanID())
	}
}

// chainsTo reports whether s descends from the span id (a parent chain
// through the recorded spans, ending at a remote parent).
func chainsTo(spans tracetest.SpanStubs, s tracetest.SpanStub, id trace.SpanID) bool {
	for range len(spans) + 1 {
		if s.Parent.SpanID() == id {
			return true
		}
		found := false
		for _, p := range spans {
			if p.SpanContext.SpanID() == s.Parent.SpanID() {
				s, found = p, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return false
}
