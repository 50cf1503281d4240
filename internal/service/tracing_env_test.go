package service

import (
	"context"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/delivery"
)

// Tracing follows the standard OTEL_* variables and is off (nil, nothing
// wired) without an OTLP endpoint.
func TestTracingFromEnv(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
		"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		t.Setenv(k, "")
	}
	log := zap.NewNop()
	cases := []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "console"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, false},
	}
	for _, c := range cases {
		t.Run("", func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			tc, err := newTracing(nil, log)
			if err != nil {
				t.Fatal(err)
			}
			if (tc != nil) != c.want {
				t.Fatalf("env %v: tracing on = %v, want %v", c.env, tc != nil, c.want)
			}
			if tc != nil && tc.shutdown == nil {
				t.Fatal("a provider made from the environment must be shut down at stop")
			}
			tc.stop(log) // flushes nothing: no span was made, so no collector is needed
		})
	}
}

// Off, the service wires exactly what it would without tracing.
func TestTracingOffWiresNothing(t *testing.T) {
	var tc *tracing
	if opts := tc.kafkaOpts("g"); opts != nil {
		t.Errorf("kafka opts %v", opts)
	}
	var h consumer.Handler = consumer.HandlerFunc(func(context.Context, *kgo.Record) (bool, error) { return false, nil })
	c := consumer.Config{Handler: h}
	tc.consume(&c, nil, "dlq")
	if c.ClientOpts != nil {
		t.Errorf("consumer config changed: %+v", c)
	}
	d := tc.dlq(DLQTuning{})
	if d.WrapProducer != nil {
		t.Error("the DLQ producer is wrapped")
	}
	if f := tc.delivery(nil); f != nil {
		t.Error("the delivery config is tuned")
	}
	if _, ok := tc.replayProcessor(nil, "g", "dlq").(*tracedProcessor); ok {
		t.Error("the replay processor is wrapped")
	}
}

// On, the Close client's transport is wrapped, keeping the one a test set.
func TestTracingWrapsTransport(t *testing.T) {
	tc := newTracingWith(noop.NewTracerProvider())
	var c delivery.Config
	tc.delivery(nil)(&c)
	if c.HTTPClient == nil || c.HTTPClient.Transport == nil {
		t.Fatal("no wrapped client")
	}
	rt := roundTripper(func(*http.Request) (*http.Response, error) { return nil, http.ErrHandlerTimeout })
	c = delivery.Config{HTTPClient: &http.Client{Transport: rt}}
	tc.delivery(nil)(&c)
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
	if _, err := c.HTTPClient.Transport.RoundTrip(req); err != http.ErrHandlerTimeout {
		t.Fatalf("the test's transport was not called: %v", err)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
