package replay

import (
	"context"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pipeline"
)

// Deliverer adapts a delivery client for a replay: every record, whatever
// its DLQ partition, goes through the one Sender of partition 0, so the
// replay as a whole stays within the client's budget (call SetPartitions(1)
// to give it the whole --rate). pipeline.DelivererFor would give each DLQ
// partition its own limiter, and records alternating between partitions
// would then be sent at a multiple of the rate.
func Deliverer(c *delivery.Client) pipeline.Deliverer { return oneSender{c.Sender(0)} }

type oneSender struct{ s *delivery.Sender }

func (o oneSender) Deliver(ctx context.Context, _ int32, body []byte) delivery.Outcome {
	return o.s.DeliverBody(ctx, body)
}
