package pipeline

import (
	"context"
	"net/http"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pkg/closeapi"
	"github.com/closesink/closesink/transform"
)

// Action is what a delivered lead event did in Close.
type Action string

// The actions. Create mode only ever creates; upsert mode creates a person
// once and then updates (or skips) them.
const (
	ActionCreated   Action = "created"
	ActionUpdated   Action = "updated"
	ActionUnchanged Action = "unchanged" // matched; nothing to change, so no PUT
	ActionSkipped   Action = "skipped"   // matched; --on-match skip
)

// DropUnknownContact is the drop reason of an identify call (with
// --update-on-identify) whose email Close does not know: identify calls
// never create leads.
const DropUnknownContact transform.DropReason = "unknown_contact"

// UpsertAPI is the Close API as the upsert mode uses it, per source
// partition (each partition spends its own share of the rate budget). Every
// call blocks until its outcome is final or ctx ends, like Deliverer.
type UpsertAPI interface {
	// Create posts a lead; before any retry it calls beforeRetry, and stops
	// with delivery.Superseded when that returns true.
	Create(ctx context.Context, partition int32, body []byte, beforeRetry func(context.Context) bool) delivery.Outcome
	// Search returns the contacts whose email is exactly email.
	Search(ctx context.Context, partition int32, email string) ([]closeapi.FoundContact, delivery.Outcome)
	GetLead(ctx context.Context, partition int32, id string) (closeapi.ExistingLead, delivery.Outcome)
	UpdateContact(ctx context.Context, partition int32, id string, u closeapi.ContactUpdate) delivery.Outcome
	UpdateLead(ctx context.Context, partition int32, id string, u closeapi.LeadUpdate) delivery.Outcome
}

// UpsertConfig turns the upsert mode on (Config.Upsert).
type UpsertConfig struct {
	API UpsertAPI
	// SkipMatched leaves a person Close already has as they are.
	SkipMatched bool
	// Memory is how many people each partition remembers (0: none, every
	// lead event searches); SharedMemory keeps one memory for every
	// partition (a replay, which reads DLQ partitions of any source).
	Memory       int
	SharedMemory bool
}

// upserted is what an upsert did: the final delivery outcome of the call
// that decided it (with attempts summed over every call made), the action,
// and the Close ids.
type upserted struct {
	out               delivery.Outcome
	action            Action
	leadID, contactID string
}

// upsert takes one lead event to Close by email: what this partition
// remembers, else Close's search; a match is updated (or skipped), no match
// creates the lead. An identify result only ever updates.
func (p *Pipeline) upsert(ctx context.Context, part int32, res transform.Result) upserted {
	u := upsertRun{p: p, ctx: ctx, part: part, api: p.cfg.Upsert.API, email: res.Email(), lead: res.Lead, identify: res.Identify}
	return u.run()
}

// upsertRun is the state of one upsert.
type upsertRun struct {
	p        *Pipeline
	ctx      context.Context
	part     int32
	api      UpsertAPI
	email    string
	lead     *closeapi.Lead
	identify bool
	attempts int // over every call
}

func (u *upsertRun) run() upserted {
	k, ok := u.p.mem.get(u.part, u.email)
	if !ok {
		found, out, done := u.search()
		if done {
			return u.finish(upserted{out: out})
		}
		k, ok = found, found.ContactID != ""
	}
	if !ok {
		if u.identify {
			return u.finish(upserted{out: delivery.Outcome{Status: delivery.Delivered}, action: actionUnknown})
		}
		return u.create()
	}
	return u.matched(k, true)
}

// actionUnknown marks an identify call for a person Close does not have;
// process turns it into a drop.
const actionUnknown Action = "unknown"

// search asks Close; done reports a failure that ends the upsert.
func (u *upsertRun) search() (known, delivery.Outcome, bool) {
	found, out := u.api.Search(u.ctx, u.part, u.email)
	u.attempts += out.Attempts
	if out.Status != delivery.Delivered {
		return known{}, out, true
	}
	if len(found) == 0 {
		return known{}, out, false
	}
	c := found[0]
	return known{ContactID: c.ID, LeadID: c.LeadID, Contact: c}, out, false
}

// matched updates (or skips) a person Close has. A PUT answered 404 (the
// contact or lead was merged or deleted meanwhile) searches once more
// (again reports whether that is still allowed), then creates.
func (u *upsertRun) matched(k known, again bool) upserted {
	if u.p.cfg.Upsert.SkipMatched {
		u.p.mem.put(u.part, u.email, k)
		return u.finish(upserted{out: delivery.Outcome{Status: delivery.Delivered}, action: ActionSkipped, leadID: k.LeadID, contactID: k.ContactID})
	}
	action, out := u.update(&k)
	if out.Status == delivery.Permanent && out.HTTPStatus == http.StatusNotFound && again {
		u.p.mem.forget(u.part, u.email)
		found, sout, done := u.search()
		switch {
		case done:
			return u.finish(upserted{out: sout})
		case found.ContactID != "":
			return u.matched(found, false)
		case u.identify:
			return u.finish(upserted{out: delivery.Outcome{Status: delivery.Delivered}, action: actionUnknown})
		}
		return u.create()
	}
	if out.Status != delivery.Delivered {
		return u.finish(upserted{out: out})
	}
	u.p.mem.put(u.part, u.email, k)
	return u.finish(upserted{out: out, action: action, leadID: k.LeadID, contactID: k.ContactID})
}

// update sends what the event changes: the contact's PATCH, then the
// lead's (reading the lead first when its fields are not known). An
// identify call changes the contact only.
func (u *upsertRun) update(k *known) (Action, delivery.Outcome) {
	action := ActionUnchanged
	ok := delivery.Outcome{Status: delivery.Delivered}
	if len(u.lead.Contacts) > 0 {
		if cu := contactChanges(u.lead.Contacts[0], k.Contact); !cu.Empty() {
			out := u.api.UpdateContact(u.ctx, u.part, k.ContactID, cu)
			u.attempts += out.Attempts
			if out.Status != delivery.Delivered {
				return "", out
			}
			k.Contact, action, ok = applyContact(k.Contact, cu), ActionUpdated, out
		}
	}
	if u.identify || !mapsLeadFields(u.lead) {
		return action, ok
	}
	if !k.LeadRead {
		l, out := u.api.GetLead(u.ctx, u.part, k.LeadID)
		u.attempts += out.Attempts
		if out.Status != delivery.Delivered {
			return "", out
		}
		k.Lead, k.LeadRead = l, true
	}
	if lu := leadChanges(u.lead, k.Lead); !lu.Empty() {
		out := u.api.UpdateLead(u.ctx, u.part, k.LeadID, lu)
		u.attempts += out.Attempts
		if out.Status != delivery.Delivered {
			return "", out
		}
		k.Lead, action, ok = applyLead(k.Lead, lu), ActionUpdated, out
	}
	return action, ok
}

func mapsLeadFields(l *closeapi.Lead) bool {
	return l.URL != "" || l.Description != "" || len(l.Custom) > 0
}

// create posts the lead. Before a retry it searches again: a create that
// timed out or lost its answer may have succeeded, and sending it again
// would make the duplicate upsert exists to prevent.
func (u *upsertRun) create() upserted {
	body, err := u.lead.MarshalJSON()
	if err != nil {
		return u.finish(upserted{out: delivery.Outcome{Status: delivery.Permanent, Message: "encoding lead: " + err.Error()}})
	}
	var found known
	out := u.api.Create(u.ctx, u.part, body, func(ctx context.Context) bool {
		f, sout, done := u.search()
		if done && sout.Status == delivery.Interrupted {
			return false // the create's own wait ends on ctx too
		}
		found = f
		return f.ContactID != ""
	})
	u.attempts += out.Attempts
	switch out.Status {
	case delivery.Superseded:
		return u.matched(found, true)
	case delivery.Delivered:
		k := known{ContactID: out.ContactID, LeadID: out.LeadID, LeadRead: true,
			Lead: closeapi.ExistingLead{ID: out.LeadID, Name: u.lead.Name, StatusID: u.lead.StatusID,
				URL: u.lead.URL, Description: u.lead.Description, Custom: u.lead.Custom}}
		if len(u.lead.Contacts) > 0 {
			c := u.lead.Contacts[0]
			k.Contact = closeapi.FoundContact{ID: out.ContactID, LeadID: out.LeadID, Name: c.Name, Title: c.Title, Emails: c.Emails, Phones: c.Phones}
		}
		u.p.mem.put(u.part, u.email, k)
		return u.finish(upserted{out: out, action: ActionCreated, leadID: out.LeadID, contactID: out.ContactID})
	}
	return u.finish(upserted{out: out})
}

// finish reports the attempts of every call the upsert made.
func (u *upsertRun) finish(r upserted) upserted {
	r.out.Attempts = u.attempts
	return r
}
