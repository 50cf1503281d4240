package transform

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// DefaultEvents are the track events the Default preset turns into leads.
var DefaultEvents = []string{"Lead Submitted", "Demo Requested", "Signed Up"}

// Defaults applied by New for zero-valued Config fields.
const (
	DefaultConsentCategory = "marketing"
	DefaultPhoneRegion     = "US"
)

// customFieldRoots are the parts of an event a custom-field path may start
// from. "traits" means the merged traits (context.traits overridden key by
// key by top-level traits). Anything else is almost certainly a typo, and a
// typo would otherwise silently never set the field.
var customFieldRoots = []string{"properties", "traits", "context"}

// Config selects what the transform does. The zero value is the Default
// preset: the three DefaultEvents, marketing consent, US as the region for
// national phone numbers, the organisation's default lead status and no
// custom fields.
type Config struct {
	// Events are the track event names (exact, case-sensitive) that create a
	// lead. Nil or empty means DefaultEvents.
	Events []string
	// ConsentCategory must be granted (JSON true) in context.consent, in its
	// flat, "categories" or "canonical" shape. Empty means "marketing".
	ConsentCategory string
	// PhoneRegion is the ISO 3166-1 alpha-2 region (e.g. "GB") used for phone
	// numbers written without a country code. Empty means "US". Case is
	// ignored.
	PhoneRegion string
	// LeadStatusID is sent as the lead's status_id; empty omits status_id so
	// Close uses the organisation's default status.
	LeadStatusID string
	// CustomFields maps a Close custom field id ("cf_...") to a dotted path in
	// the event whose value fills it: "properties.plan", "traits.industry",
	// "context.page.title". Paths walk objects only.
	CustomFields map[string]string
	// Identify makes identify calls with an email results too (Result.Identify
	// set), so the upsert mode can update an existing contact from them.
	// Off (the product's rule): identify calls are dropped (no_mapped_name,
	// or not_mapped with StrictJSON).
	Identify bool
	// StrictJSON parses every record in full, so a malformed JSON object that
	// cannot be a lead is dead-lettered as invalid_event instead of dropped
	// as no_mapped_name; slower. Off (the default), a record whose bytes
	// cannot spell a mapped event name is dropped without being parsed
	// (fastpath.go); records that could be leads are always parsed in full.
	StrictJSON bool
}

// Validate reports the first setting that cannot work, naming it. It does
// not modify c; New applies the defaults.
func (c Config) Validate() error {
	for i, name := range c.Events {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("transform: Events[%d] is empty; list event names such as %q", i, DefaultEvents[0])
		}
		if !utf8.ValidString(name) {
			return fmt.Errorf("transform: Events[%d] is not valid UTF-8", i)
		}
	}
	if c.ConsentCategory != "" && strings.TrimSpace(c.ConsentCategory) != c.ConsentCategory {
		return fmt.Errorf("transform: ConsentCategory %q has surrounding whitespace", c.ConsentCategory)
	}
	if c.PhoneRegion != "" {
		region := strings.ToUpper(c.PhoneRegion)
		if !phonenumbers.GetSupportedRegions()[region] {
			return fmt.Errorf("transform: PhoneRegion %q is not a supported ISO 3166-1 alpha-2 region code (e.g. \"US\", \"GB\")", c.PhoneRegion)
		}
	}
	if c.LeadStatusID != "" && !validCloseID(c.LeadStatusID, "stat_") {
		return fmt.Errorf("transform: LeadStatusID %q is not a Close lead status id (\"stat_\" followed by letters and digits)", c.LeadStatusID)
	}
	ids := make([]string, 0, len(c.CustomFields))
	for id := range c.CustomFields {
		ids = append(ids, id)
	}
	sort.Strings(ids) // report the same error on every run
	for _, id := range ids {
		if err := validateCustomField(id, c.CustomFields[id]); err != nil {
			return err
		}
	}
	return nil
}

func validateCustomField(id, path string) error {
	if strings.HasPrefix(id, "custom.") {
		return fmt.Errorf("transform: CustomFields key %q: use the bare field id %q, without the \"custom.\" prefix", id, strings.TrimPrefix(id, "custom."))
	}
	if !validCloseID(id, "cf_") {
		return fmt.Errorf("transform: CustomFields key %q is not a Close custom field id (\"cf_\" followed by letters and digits)", id)
	}
	if _, err := parseFieldPath(path); err != nil {
		return fmt.Errorf("transform: CustomFields[%q]: %w", id, err)
	}
	return nil
}

// validCloseID accepts prefix followed by one or more ASCII letters or
// digits. Real Close ids have 43 base62 characters after the prefix, but
// emulators and tests use shorter ones, and the length carries no meaning.
func validCloseID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || rest == "" {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

var errEmptyPathSegment = errors.New("path has an empty segment")

// parseFieldPath splits "properties.plan" into its segments and checks the
// root is one the transform knows.
func parseFieldPath(path string) ([]string, error) {
	segs := strings.Split(path, ".")
	if len(segs) < 2 {
		return nil, fmt.Errorf("path %q must be <root>.<key>..., with root one of %s", path, strings.Join(customFieldRoots, ", "))
	}
	for _, seg := range segs {
		if seg == "" {
			return nil, fmt.Errorf("path %q: %w", path, errEmptyPathSegment)
		}
	}
	for _, root := range customFieldRoots {
		if segs[0] == root {
			return segs, nil
		}
	}
	return nil, fmt.Errorf("path %q starts with %q; the root must be one of %s", path, segs[0], strings.Join(customFieldRoots, ", "))
}
