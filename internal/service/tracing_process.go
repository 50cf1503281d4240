package service

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/closesink/closesink/deadletter/replay"
	"github.com/closesink/closesink/pipeline"
)

// tracedProcessor puts a process span around every record the pipeline
// takes to an outcome; it is the consumer's Handler (run) and the replay's
// Processor.
type tracedProcessor struct {
	t        *tracing
	pl       *pipeline.Pipeline
	group    string
	dlqTopic string // a record read from it links to its first attempt
}

// replayProcessor is the replay's Processor: pl itself when tracing is off.
func (t *tracing) replayProcessor(pl *pipeline.Pipeline, group, dlqTopic string) replay.Processor {
	if t == nil {
		return pl
	}
	return t.processor(pl, group, dlqTopic)
}

func (t *tracing) processor(pl *pipeline.Pipeline, group, dlqTopic string) *tracedProcessor {
	return &tracedProcessor{t: t, pl: pl, group: group, dlqTopic: dlqTopic}
}

// Handle implements consumer.Handler as pipeline.Pipeline.Handle does.
func (p *tracedProcessor) Handle(ctx context.Context, rec *kgo.Record) (urgent bool, err error) {
	out, err := p.Process(ctx, rec)
	if err != nil {
		return false, err
	}
	return out.Kind != pipeline.Dropped, nil
}

// Process implements replay.Processor. The span's parent is rec.Context
// (kotel's receive span, itself a child of the producer's traceparent); ctx
// keeps its deadline and cancellation.
func (p *tracedProcessor) Process(ctx context.Context, rec *kgo.Record) (pipeline.Outcome, error) {
	if rec.Context != nil {
		ctx = trace.ContextWithSpan(ctx, trace.SpanFromContext(rec.Context))
	}
	attrs := []attribute.KeyValue{
		attribute.String(attrMessagingSystem, "kafka"),
		attribute.String(attrDestinationName, rec.Topic),
		attribute.String(attrPartitionID, strconv.Itoa(int(rec.Partition))),
		attribute.String(attrConsumerGroup, p.group),
		attribute.Int64(attrKafkaOffset, rec.Offset),
		attribute.String(attrOperationType, "process"),
		attribute.String(attrOperationName, "process"),
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	if rec.Topic == p.dlqTopic {
		if first := p.t.firstAttempt(rec); first.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: first,
				Attributes: []attribute.KeyValue{attribute.String(attrLinkFirstAttempt, "previous_attempt")}}))
		}
	}
	ctx, span := p.t.tracer.Start(ctx, "process "+rec.Topic, opts...)
	defer span.End()
	out, err := p.pl.Process(ctx, rec)
	if err != nil {
		span.SetAttributes(attribute.String(attrErrorType, "not_final"))
		span.SetStatus(codes.Error, "outcome not final")
		return out, err
	}
	span.SetAttributes(attribute.String(attrOutcome, out.Kind.String()))
	switch out.Kind {
	case pipeline.Delivered:
		span.SetAttributes(attribute.String(attrAction, string(out.Action)), attribute.Int(attrAttempts, out.Attempts))
	case pipeline.Dropped:
		span.SetAttributes(attribute.String(attrReason, string(out.DropReason)))
	case pipeline.DeadLettered:
		span.SetAttributes(attribute.String(attrReason, string(out.Class)), attribute.String(attrErrorType, string(out.Class)),
			attribute.Int(attrAttempts, out.Attempts))
		if out.HTTPStatus > 0 {
			span.SetAttributes(attribute.Int(attrHTTPStatus, out.HTTPStatus))
		}
		span.SetStatus(codes.Error, "dead-lettered: "+string(out.Class))
	}
	return out, nil
}

// firstAttempt is the span context a DLQ record's HeaderTraceparent names:
// the process span that dead-lettered it.
func (t *tracing) firstAttempt(rec *kgo.Record) trace.SpanContext {
	ctx := propagation.TraceContext{}.Extract(context.Background(), closesinkCarrier{rec})
	return trace.SpanContextFromContext(ctx)
}
