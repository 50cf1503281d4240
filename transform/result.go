package transform

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/closesink/closesink/pkg/closeapi"
)

// ErrInvalidEvent is wrapped by every Result.Err: the record is not an event
// the transform can read (not JSON, wrong shape, malformed email). Such
// records are dead-lettered with class invalid_event, never silently dropped.
var ErrInvalidEvent = errors.New("invalid event")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
}

// Kind is the outcome of transforming one record.
type Kind int

const (
	// KindLead: Result.Lead is the lead to create in Close.
	KindLead Kind = iota + 1
	// KindDropped: the event is deliberately not sent; Result.Drop says why.
	KindDropped
	// KindInvalid: the record cannot be read as an event; Result.Err says why.
	KindInvalid
)

// String gives the outcome's label for logs, metrics and DLQ headers.
func (k Kind) String() string {
	switch k {
	case KindLead:
		return "lead"
	case KindDropped:
		return "dropped"
	case KindInvalid:
		return "invalid_event"
	default:
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// DropReason says why an event was not turned into a lead.
type DropReason string

// Drop reasons, checked in this order.
const (
	// DropNoMappedName: a JSON-object-shaped record none of whose bytes can
	// spell a mapped event name (nor "identify" with Config.Identify), dropped
	// without being parsed, so it may even be malformed JSON. It could never
	// create or update anything at Close. Not used with Config.StrictJSON.
	DropNoMappedName DropReason = "no_mapped_name"
	// DropNotMapped: parsed in full and not a track event in Config.Events
	// (e.g. a mapped name appears only inside properties, or StrictJSON).
	DropNotMapped DropReason = "not_mapped"
	DropNoEmail   DropReason = "no_email"   // no email trait (missing, null, empty or blank)
	DropNoConsent DropReason = "no_consent" // consent category not granted
)

// Phone issues: why a phone trait was left out of an otherwise good lead.
const (
	PhoneIssueWrongType  = "phone_wrong_type"   // the trait is not a JSON string
	PhoneIssueNotANumber = "phone_not_a_number" // phonenumbers cannot parse it
	PhoneIssueInvalid    = "phone_invalid"      // parsed, but not a complete possible number (wrong length, no area code)
)

// Result is the outcome of Transform. Exactly one of Lead, Drop and Err is
// set, according to Kind. A Result never aliases the input bytes.
type Result struct {
	Kind Kind
	Lead *closeapi.Lead // KindLead only
	Drop DropReason     // KindDropped only
	Err  error          // KindInvalid only; wraps ErrInvalidEvent and never quotes event data
	// Event labels the record for logs and metrics with bounded cardinality
	// and no personal data: the configured event name for a mapped track
	// event, otherwise the event type ("track", "page", "identify", "screen",
	// "group", "alias", or "unknown"), "unparsed" for a record dropped
	// no_mapped_name without being parsed, and "" when the record is not a
	// JSON object.
	Event string
	// PhoneIssue is "" or one of the PhoneIssue constants when a phone trait
	// was present but left out of the lead.
	PhoneIssue string
	// MessageID is the event's top-level messageId (KindLead only; "" when
	// absent, not a string, or longer than MaxMessageIDLen), for spotting a
	// producer's duplicate deliveries of the same event.
	MessageID string
	// Identify marks a KindLead result built from an identify call
	// (Config.Identify): its contact may update an existing one, but it
	// must never create a lead.
	Identify bool
}

// MaxMessageIDLen bounds Result.MessageID; Signal's ids are UUIDs (36 bytes).
const MaxMessageIDLen = 256

// Email returns the lead's contact email, or "" when the result is not a
// lead. Treat it as personal data: mask it with MaskEmail before logging.
func (r Result) Email() string {
	if r.Lead == nil || len(r.Lead.Contacts) == 0 || len(r.Lead.Contacts[0].Emails) == 0 {
		return ""
	}
	return r.Lead.Contacts[0].Emails[0].Email
}
