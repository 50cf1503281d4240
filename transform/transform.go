package transform

import (
	"bytes"
	"sort"
	"strings"
)

// Transformer turns Signal event records into Close leads. It is immutable
// after New and safe for concurrent use by any number of goroutines; each
// Transform call is independent, never blocks and does no I/O.
type Transformer struct {
	events   map[string]string // accepted event name -> the same string, reused as a label
	consent  string
	region   string
	statusID string
	custom   []customField // sorted by id so leads are built deterministically
	identify bool          // identify calls are results too (Config.Identify)

	// Fast path (fastpath.go): off when strict.
	strict          bool
	needles         [][]byte // mapped names, plus "identify" when identify
	needEscapeCheck bool     // a needle holds a character with a short escape
}

type customField struct {
	id   string
	segs []string // segs[0] is a root from customFieldRoots
}

// New validates cfg, applies defaults and returns a Transformer.
func New(cfg Config) (*Transformer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transformer{
		events:   map[string]string{},
		consent:  cfg.ConsentCategory,
		region:   strings.ToUpper(cfg.PhoneRegion),
		statusID: cfg.LeadStatusID,
		identify: cfg.Identify,
	}
	events := cfg.Events
	if len(events) == 0 {
		events = DefaultEvents
	}
	for _, name := range events {
		t.events[name] = name
	}
	t.initFastPath(cfg.StrictJSON)
	if t.consent == "" {
		t.consent = DefaultConsentCategory
	}
	if t.region == "" {
		t.region = DefaultPhoneRegion
	}
	for id, path := range cfg.CustomFields {
		segs, _ := parseFieldPath(path) // validated above
		t.custom = append(t.custom, customField{id: id, segs: segs})
	}
	sort.Slice(t.custom, func(i, j int) bool { return t.custom[i].id < t.custom[j].id })
	return t, nil
}

// envelope holds the raw spans of the top-level members the transform reads.
// A nil span means the key is absent; later duplicate keys win.
type envelope struct {
	typ, event, traits, properties, context, messageID []byte
}

// parseEnvelope validates the whole record as JSON and collects the
// top-level spans in one pass, allocating nothing on success.
func parseEnvelope(data []byte) (envelope, error) {
	var env envelope
	i := skipSpace(data, 0)
	if i == len(data) {
		return env, invalidf("empty record")
	}
	if data[i] != '{' {
		if err := checkJSON(data); err != nil {
			return env, invalidf("not JSON: %v", err)
		}
		return env, invalidf("record is a JSON %s, want an object", jsonKind(data[i:]))
	}
	err := scan(data, func(key, value []byte) {
		switch {
		case string(key) == "type":
			env.typ = value
		case string(key) == "event":
			env.event = value
		case string(key) == "traits":
			env.traits = value
		case string(key) == "properties":
			env.properties = value
		case string(key) == "context":
			env.context = value
		case string(key) == "messageId":
			env.messageID = value
		}
	}, "object")
	if err != nil {
		return env, invalidf("not JSON: %v", err)
	}
	return env, nil
}

// knownTypes are the Segment-spec event types; any other type is labelled
// "unknown" so a producer's typo cannot blow up metric cardinality.
var knownTypes = []string{"track", "identify", "page", "screen", "group", "alias"}

// Transform maps one record value to a lead, a drop or an invalid-event
// error. Checks run in this order: unless Config.StrictJSON, an object none
// of whose bytes can spell a mapped name (no_mapped_name, without parsing;
// fastpath.go); JSON and envelope shape (invalid_event), event mapping
// (not_mapped), email (no_email, or invalid_event when malformed), consent
// (no_consent). value is not retained or modified. Safe for concurrent use;
// never panics.
func (t *Transformer) Transform(value []byte) Result {
	if t.cannotBeResult(value) {
		return Result{Kind: KindDropped, Drop: DropNoMappedName, Event: unparsedLabel}
	}
	env, err := parseEnvelope(value)
	if err != nil {
		return Result{Kind: KindInvalid, Err: err}
	}
	// Envelope members of the wrong JSON type make the event unreadable
	// whatever its name; checking costs nothing since the spans are known.
	for _, f := range []struct {
		name string
		raw  []byte
	}{{"type", env.typ}, {"event", env.event}} {
		if present(f.raw) && !isString(f.raw) {
			return Result{Kind: KindInvalid, Event: "unknown", Err: invalidf("%s is a JSON %s, want a string", f.name, jsonKind(f.raw))}
		}
	}
	label, mapped := t.classify(env)
	for _, f := range []struct {
		name string
		raw  []byte
	}{{"traits", env.traits}, {"properties", env.properties}, {"context", env.context}} {
		if present(f.raw) && !isObject(f.raw) {
			return Result{Kind: KindInvalid, Event: label, Err: invalidf("%s is a JSON %s, want an object", f.name, jsonKind(f.raw))}
		}
	}
	if mapped {
		return t.lead(env, label)
	}
	if t.identify && label == "identify" {
		res := t.lead(env, label)
		res.Identify = res.Kind == KindLead
		return res
	}
	return Result{Kind: KindDropped, Drop: DropNotMapped, Event: label}
}

// classify returns the record's label and whether it is a mapped track event.
func (t *Transformer) classify(env envelope) (label string, mapped bool) {
	if !isString(env.typ) {
		return "unknown", false
	}
	if rawStringEquals(env.typ, "track") {
		if isString(env.event) {
			inner := env.event[1 : len(env.event)-1]
			name, ok := t.events[string(inner)] // no allocation for the lookup
			if !ok && bytes.IndexByte(inner, '\\') >= 0 {
				name, ok = t.events[decodeString(env.event)]
			}
			if ok {
				return name, true
			}
		}
		return "track", false
	}
	for _, typ := range knownTypes {
		if rawStringEquals(env.typ, typ) {
			return typ, false
		}
	}
	return "unknown", false
}
