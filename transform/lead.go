package transform

import (
	"encoding/json"
	"strings"

	"github.com/closesink/closesink/pkg/closeapi"
)

// traits holds the raw spans of the traits the lead is built from, after
// merging: context.traits first, then top-level traits override key by key.
// A null never overrides (null is treated as a missing key everywhere).
type traits struct {
	email, phone, firstName, lastName, name, title, company []byte
}

func (tr *traits) collect(obj []byte) {
	eachMember(obj, func(key, value []byte) {
		if !present(value) {
			return
		}
		switch {
		case string(key) == "email":
			tr.email = value
		case string(key) == "phone":
			tr.phone = value
		case string(key) == "firstName":
			tr.firstName = value
		case string(key) == "lastName":
			tr.lastName = value
		case string(key) == "name":
			tr.name = value
		case string(key) == "title":
			tr.title = value
		case string(key) == "company":
			tr.company = value
		}
	})
}

// eventContext holds the context members the transform reads.
type eventContext struct {
	traits, consent, page []byte
}

func readContext(obj []byte) eventContext {
	var c eventContext
	eachMember(obj, func(key, value []byte) {
		switch {
		case string(key) == "traits":
			c.traits = value
		case string(key) == "consent":
			c.consent = value
		case string(key) == "page":
			c.page = value
		}
	})
	return c
}

// consentGranted reports whether category is the JSON value true in any of
// the three shapes producers have used: context.consent.<category>,
// context.consent.categories.<category> and context.consent.canonical.<category>.
// Anything else (false, "true", 1, a missing or non-object consent) is not
// consent.
func consentGranted(consent []byte, category string) bool {
	if !isObject(consent) {
		return false
	}
	var flat, categories, canonical []byte
	eachMember(consent, func(key, value []byte) {
		// Not a switch: a category may itself be named "categories".
		if string(key) == category {
			flat = value
		}
		if string(key) == "categories" {
			categories = value
		}
		if string(key) == "canonical" {
			canonical = value
		}
	})
	return isTrue(flat) ||
		isObject(categories) && isTrue(findMember(categories, category)) ||
		isObject(canonical) && isTrue(findMember(canonical, category))
}

func isTrue(raw []byte) bool { return string(raw) == "true" }

// lead runs the checks that need the event's content and builds the lead.
// The envelope shape has been checked and the event is mapped.
func (t *Transformer) lead(env envelope, label string) Result {
	var ctx eventContext
	if isObject(env.context) {
		ctx = readContext(env.context)
	}
	if present(ctx.traits) && !isObject(ctx.traits) {
		return Result{Kind: KindInvalid, Event: label, Err: invalidf("context.traits is a JSON %s, want an object", jsonKind(ctx.traits))}
	}
	var tr traits
	tr.collect(ctx.traits)
	tr.collect(env.traits)

	// An email that is there but blank carries no more than a missing one,
	// so it is no_email; one that has content but is not an address is
	// invalid_event, so a producer bug is visible in the DLQ rather than
	// silently dropping leads.
	if !present(tr.email) {
		return Result{Kind: KindDropped, Drop: DropNoEmail, Event: label}
	}
	if !isString(tr.email) {
		return Result{Kind: KindInvalid, Event: label, Err: invalidf("email trait is a JSON %s, want a string", jsonKind(tr.email))}
	}
	email := strings.TrimSpace(decodeString(tr.email))
	if email == "" {
		return Result{Kind: KindDropped, Drop: DropNoEmail, Event: label}
	}
	email = strings.ToLower(email)
	if !validEmail(email) {
		return Result{Kind: KindInvalid, Event: label, Err: invalidf("email trait is not a valid email address")}
	}

	if !consentGranted(ctx.consent, t.consent) {
		return Result{Kind: KindDropped, Drop: DropNoConsent, Event: label}
	}

	contact := closeapi.Contact{
		Name:   truncateRunes(contactName(text(tr.firstName), text(tr.lastName), text(tr.name)), MaxTextLen),
		Title:  truncateRunes(text(tr.title), MaxTextLen),
		Emails: []closeapi.Email{{Email: email}},
	}
	phone, phoneIssue := normalizePhone(tr.phone, t.region)
	if phone != "" {
		contact.Phones = []closeapi.Phone{{Phone: phone}}
	}

	name := text(tr.company)
	if name == "" {
		name = text(tr.lastName)
	}
	if name == "" {
		name = email // valid, so never empty
	}
	description := label
	if isObject(env.properties) {
		if d := text(findMember(env.properties, "lead_type")); d != "" {
			description = d
		}
	}
	lead := &closeapi.Lead{
		Name:        truncateRunes(name, MaxTextLen),
		StatusID:    t.statusID,
		Description: description,
		Contacts:    []closeapi.Contact{contact},
	}
	if isObject(ctx.page) {
		lead.URL = text(findMember(ctx.page, "url"))
	}
	lead.Custom = t.customFields(env, ctx, &tr)
	return Result{Kind: KindLead, Lead: lead, Event: label, PhoneIssue: phoneIssue, MessageID: messageID(env.messageID)}
}

// customFields resolves each configured path; a missing path, null or
// object sets nothing. Returns nil when no field is set.
func (t *Transformer) customFields(env envelope, ctx eventContext, tr *traits) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for _, cf := range t.custom {
		var raw []byte
		switch cf.segs[0] {
		case "properties":
			raw = lookupPath(env.properties, cf.segs[1:])
		case "context":
			raw = lookupPath(env.context, cf.segs[1:])
		case "traits":
			raw = lookupTrait(env.traits, ctx.traits, cf.segs[1:])
		}
		v, ok := customValue(raw)
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string]json.RawMessage, len(t.custom))
		}
		out[cf.id] = v
	}
	return out
}

// lookupTrait applies the traits merge to an arbitrary path: the first key
// comes from top-level traits unless absent or null there, then from
// context.traits; deeper keys are not merged.
func lookupTrait(top, ctx []byte, segs []string) []byte {
	if v := lookupPath(top, segs[:1]); present(v) {
		return lookupPath(v, segs[1:])
	}
	v := lookupPath(ctx, segs[:1])
	if !present(v) {
		return nil
	}
	return lookupPath(v, segs[1:])
}

// messageID is the event's id when it is a usable string ("" otherwise).
func messageID(raw []byte) string {
	if id := text(raw); len(id) <= MaxMessageIDLen {
		return id
	}
	return ""
}
