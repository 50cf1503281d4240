package pipeline

import (
	"context"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pkg/closeapi"
)

// Senders adapts a delivery client to Deliverer and UpsertAPI: each call
// goes through the Sender its partition maps to, and so spends that
// Sender's share of the rate budget.
type Senders struct {
	pick func(partition int32) *delivery.Sender
}

// DelivererFor gives each partition its own Sender (and share of the budget).
func DelivererFor(c *delivery.Client) Senders { return Senders{c.Sender} }

// OneSender sends every partition's records through s: a replay reads DLQ
// partitions in turn, and one limiter keeps it within the whole budget,
// where one per DLQ partition would send at a multiple of the rate.
func OneSender(s *delivery.Sender) Senders { return Senders{func(int32) *delivery.Sender { return s }} }

// Deliver creates a lead.
func (d Senders) Deliver(ctx context.Context, p int32, body []byte) delivery.Outcome {
	return d.pick(p).DeliverBody(ctx, body)
}

// Create creates a lead, checking beforeRetry before any retry.
func (d Senders) Create(ctx context.Context, p int32, body []byte, beforeRetry func(context.Context) bool) delivery.Outcome {
	return d.pick(p).Create(ctx, body, beforeRetry)
}

// Search finds the contacts with exactly this email.
func (d Senders) Search(ctx context.Context, p int32, email string) ([]closeapi.FoundContact, delivery.Outcome) {
	return d.pick(p).Search(ctx, email)
}

// GetLead reads a lead.
func (d Senders) GetLead(ctx context.Context, p int32, id string) (closeapi.ExistingLead, delivery.Outcome) {
	return d.pick(p).GetLead(ctx, id)
}

// UpdateContact patches a contact.
func (d Senders) UpdateContact(ctx context.Context, p int32, id string, u closeapi.ContactUpdate) delivery.Outcome {
	return d.pick(p).UpdateContact(ctx, id, u)
}

// UpdateLead patches a lead.
func (d Senders) UpdateLead(ctx context.Context, p int32, id string, u closeapi.LeadUpdate) delivery.Outcome {
	return d.pick(p).UpdateLead(ctx, id, u)
}
