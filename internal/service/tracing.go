package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/version"
	"github.com/closesink/closesink/pipeline"
)

// Tracing (README, Observability > Tracing) is off unless an OTLP endpoint
// is set in the environment or a caller passes a TracerProvider: then
// *tracing is nil and every method below hands back what it was given, so
// the hot path has no hooks, no wrappers and no spans.
//
// When on: kotel's consumer hooks continue the producer's trace from the
// record's traceparent header (they set rec.Context), every record gets a
// process span parented on that context, the Close client's requests are
// otelhttp client spans under it, and a dead-lettered record carries the
// process span's context in HeaderTraceparent so its replay links back.
type tracing struct {
	tp       trace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	shutdown func(context.Context) error // nil: the caller owns the provider
}

// HeaderTraceparent is the DLQ header holding the W3C traceparent of the
// process span that dead-lettered the record (its first attempt, or the
// replay that dead-lettered it again). The producer's own traceparent
// header is copied unchanged, as every producer header is (docs/design.md
// §5); this one is closesink's, so it never replaces the producer's and is
// dropped with the other closesink.* headers when a replay writes it anew.
const HeaderTraceparent = "closesink.traceparent"

// Span attribute keys: OpenTelemetry's current messaging conventions (kotel's
// own receive spans still use the older names) and closesink's outcome.
const (
	attrMessagingSystem    = "messaging.system"
	attrDestinationName    = "messaging.destination.name"
	attrPartitionID        = "messaging.destination.partition.id"
	attrConsumerGroup      = "messaging.consumer.group.name"
	attrKafkaOffset        = "messaging.kafka.offset"
	attrOperationType      = "messaging.operation.type"
	attrOperationName      = "messaging.operation.name"
	attrErrorType          = "error.type"
	attrOutcome            = "closesink.outcome"
	attrAction             = "closesink.action"
	attrReason             = "closesink.reason"
	attrHTTPStatus         = "closesink.http_status"
	attrAttempts           = "closesink.attempts"
	attrLinkFirstAttempt   = "closesink.link"
	instrumentationName    = "github.com/closesink/closesink"
	tracingShutdownTimeout = 5 * time.Second
)

// newTracing returns the tracing to use: tp when set (tests, embedders: the
// caller shuts it down), else one configured from the standard OTEL_*
// environment variables, else nil (off).
func newTracing(tp trace.TracerProvider, log *zap.Logger) (*tracing, error) {
	if tp == nil {
		if !tracingFromEnv(log) {
			return nil, nil
		}
		ctx := context.Background()
		exp, err := otlptracehttp.New(ctx) // reads OTEL_EXPORTER_OTLP_{,TRACES_}{ENDPOINT,HEADERS,TIMEOUT,...}
		if err != nil {
			return nil, fmt.Errorf("%w: tracing: %w", config.ErrInvalid, err)
		}
		// The environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES)
		// overrides the defaults given first.
		res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithHost(),
			resource.WithAttributes(attribute.String("service.name", "closesink"), attribute.String("service.version", version.Version)),
			resource.WithFromEnv())
		if err != nil {
			log.Warn("tracing: some resource attributes could not be read", zap.Error(err))
		}
		// The sampler comes from OTEL_TRACES_SAMPLER(_ARG): the SDK reads
		// them when no sampler is given (default parentbased_always_on).
		sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t := newTracingWith(sdk)
		t.shutdown = sdk.Shutdown
		log.Info("tracing on: exporting spans over OTLP/HTTP")
		return t, nil
	}
	return newTracingWith(tp), nil
}

func newTracingWith(tp trace.TracerProvider) *tracing {
	return &tracing{
		tp:     tp,
		tracer: tp.Tracer(instrumentationName, trace.WithInstrumentationVersion(version.Version)),
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// tracingFromEnv reports whether the environment asks for tracing: an OTLP
// endpoint is set, the SDK is not disabled and the exporter is otlp.
func tracingFromEnv(log *zap.Logger) bool {
	if os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return false
	}
	if off, _ := strconv.ParseBool(os.Getenv("OTEL_SDK_DISABLED")); off {
		return false
	}
	switch e := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); e {
	case "", "otlp":
	case "none":
		return false
	default:
		log.Warn("tracing off: OTEL_TRACES_EXPORTER must be otlp or none", zap.String("OTEL_TRACES_EXPORTER", e))
		return false
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := os.Getenv(k); p != "" && p != "http/protobuf" {
			log.Warn("closesink exports traces over http/protobuf only; point the endpoint at the collector's OTLP/HTTP port (4318)",
				zap.String(k, p))
			break
		}
	}
	return true
}

// stop flushes and shuts down a provider made from the environment.
func (t *tracing) stop(log *zap.Logger) {
	if t == nil || t.shutdown == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
	defer cancel()
	if err := t.shutdown(ctx); err != nil {
		log.Warn("tracing: flushing spans at stop failed", zap.Error(err))
	}
}

// kafkaOpts are kotel's hooks for a consuming client: their receive span
// continues the producer's trace and becomes rec.Context. Never put them on
// the DLQ producer: its publish span would replace the producer's
// traceparent that the DLQ copy keeps.
func (t *tracing) kafkaOpts(group string) []kgo.Opt {
	if t == nil {
		return nil
	}
	return []kgo.Opt{kgo.WithHooks(kotel.NewTracer(kotel.TracerProvider(t.tp), kotel.TracerPropagator(t.prop),
		kotel.ConsumerGroup(group), kotel.KeyFormatter(noKey)))}
}

// noKey keeps record keys out of kotel's spans: a lead's key is usually its
// email, and spans leave the process unmasked.
func noKey(*kgo.Record) (string, error) { return "", errNoKey }

var errNoKey = errors.New("record keys are not traced")

// consume wires the consumer group: kotel's hooks on its client and a
// process span around the pipeline.
func (t *tracing) consume(c *consumer.Config, pl *pipeline.Pipeline, dlqTopic string) {
	if t == nil {
		return
	}
	c.ClientOpts = append(slices.Clip(c.ClientOpts), t.kafkaOpts(c.Group)...)
	c.Handler = t.processor(pl, c.Group, dlqTopic)
}

// delivery wraps tune so that the Close client's transport, whatever tune
// left it, is wrapped by otelhttp: each request is a client span under the
// record's process span, and carries its traceparent to Close.
func (t *tracing) delivery(tune func(*delivery.Config)) func(*delivery.Config) {
	if t == nil {
		return tune
	}
	return func(c *delivery.Config) {
		if tune != nil {
			tune(c)
		}
		var hc http.Client
		if c.HTTPClient != nil {
			hc = *c.HTTPClient
		}
		base := hc.Transport
		if base == nil {
			if c.HTTPClient == nil {
				base = delivery.NewTransport()
			} else {
				base = http.DefaultTransport
			}
		}
		hc.Transport = otelhttp.NewTransport(base, otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(t.prop))
		c.HTTPClient = &hc
	}
}

// dlq makes the dead-letter writer's records carry the process span's
// context in HeaderTraceparent.
func (t *tracing) dlq(d DLQTuning) DLQTuning {
	if t == nil {
		return d
	}
	wrap := d.WrapProducer
	d.WrapProducer = func(p deadletter.Producer) deadletter.Producer {
		if wrap != nil {
			p = wrap(p)
		}
		return traceProducer{p: p, prop: propagation.TraceContext{}}
	}
	return d
}

type traceProducer struct {
	p    deadletter.Producer
	prop propagation.TraceContext
}

func (tp traceProducer) ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	if trace.SpanContextFromContext(ctx).IsValid() {
		for _, r := range rs {
			tp.prop.Inject(ctx, closesinkCarrier{r})
		}
	}
	return tp.p.ProduceSync(ctx, rs...)
}

// closesinkCarrier reads and writes W3C trace context in a record's
// closesink.-prefixed headers (closesink.traceparent, closesink.tracestate).
type closesinkCarrier struct{ r *kgo.Record }

func (c closesinkCarrier) Get(key string) string {
	for _, h := range c.r.Headers {
		if h.Key == "closesink."+key {
			return string(h.Value)
		}
	}
	return ""
}

func (c closesinkCarrier) Set(key, val string) {
	k := "closesink." + key
	c.r.Headers = slices.DeleteFunc(c.r.Headers, func(h kgo.RecordHeader) bool { return h.Key == k })
	c.r.Headers = append(c.r.Headers, kgo.RecordHeader{Key: k, Value: []byte(val)})
}

func (c closesinkCarrier) Keys() []string {
	return []string{"closesink.traceparent", "closesink.tracestate"}
}
