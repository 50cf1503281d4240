// Package closeemu is an in-process emulator of the parts of the Close REST API
// closesink uses: creating, fetching and listing leads and the /me/ key check,
// and for upsert by email: searching contacts by email (POST /data/search/,
// only closeapi.ContactByEmail's query shape; anything else is a 400),
// updating contacts and leads (PUT /contact/{id}/ and /lead/{id}/, as
// PATCHes that replace emails and phones lists whole and take lead custom
// fields as flat "custom.<id>" keys, null clearing) and merging leads (POST
// /lead/merge/; the source lead is gone and its contacts move to the
// destination).
//
// Search matches words as Close's "phrase" mode does, so a search for
// jane@acme.com also finds jane@acme.com.evil.io, and it lags writes by
// Config.IndexDelay on the injected clock. Contacts are stored as objects of
// their own (Server.Contact, ContactsByEmail); leads reflect every update
// (Server.Lead, Leads), and Server.Updates records the PUT bodies applied.
//
// It is faithful to what closesink relies on (see docs: Basic auth with the key
// as username, 400 field-errors, Close-shaped 200 bodies, the RateLimit header
// and 429 + Retry-After) and can inject faults (5xx by rate or script, slow
// answers, dropped connections, a fixed status per contact email) so tests and
// the demo exercise every delivery path without touching the real Close.
//
// Those faults all strike before a lead exists. The after-create faults model
// the order that produces duplicates in real Close: the lead is stored, then
// the answer is slow (LatencyAfterCreate, which a client may give up on),
// lost (DropAfterCreateRate: the connection is closed with no response) or a
// proxy error (ErrorAfterCreateRate: ErrorStatus although the lead exists).
// Stats.AbandonedAfterCreate counts the stored leads whose client got no
// success, so a test of a retrying client can assert
// Stats().Created == distinct leads sent + Stats().AbandonedAfterCreate.
//
// Auth, the rate limit, Latency and DropConnRate apply to every endpoint;
// ErrorRate, Script and StatusForEmail to Faults.ErrorEndpoints (POST /lead/
// unless set); the after-create faults to POST /lead/ only.
//
// Outside the Close API namespace, GET /_emulator/stats serves Stats as JSON
// (no auth, no faults, not counted) for tests that run the emulator in
// another process ("closesink emulator", whose flags mirror Faults).
package closeemu

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// ErrInvalidConfig is wrapped by every error from Config.Validate and
// Faults.Validate, so callers can match with errors.Is.
var ErrInvalidConfig = errors.New("closeemu: invalid config")

// DefaultMaxBodyBytes caps a request body when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// DefaultStatusLabel is the label of the organization's default lead status.
const DefaultStatusLabel = "Potential"

// Config configures a Server. The zero value is usable: no keys (every request
// is 401 until AddKey), any status_id accepted, no rate limit.
type Config struct {
	// APIKeys are the accepted keys (Basic auth username, empty password).
	APIKeys []string
	// Statuses are the known lead status ids; the first is the organization's
	// default. Empty means any status_id is accepted and a default is generated.
	Statuses []string
	// StatusLabels maps status id to its label (status_label in responses).
	// Missing entries: the default status is "Potential", others echo the id.
	StatusLabels map[string]string
	// CustomFields are the organization's lead custom fields, listed by
	// GET /api/v1/custom_field/lead/ (not enforced on leads).
	CustomFields []CustomField
	// RateLimit is the requests/second allowed per key (token bucket),
	// counted across all endpoints. 0 means unlimited and no RateLimit header.
	RateLimit float64
	// RateBurst is the bucket size; 0 means max(1, ceil(RateLimit)).
	RateBurst int
	// Now is the clock used for rate limiting, date_created/date_updated and
	// IndexDelay; nil means time.Now. Injecting it lets tests exercise the
	// limiter and the search index lag without sleeping.
	Now func() time.Time
	// OrganizationID is reported on leads and by /me/; generated if empty.
	OrganizationID string
	// MaxBodyBytes caps request bodies (413 above it); 0 means 1 MiB.
	MaxBodyBytes int64
	// MaxLeads bounds how many leads are kept for inspection (the oldest are
	// forgotten first, with their contacts) so a long-running emulator does
	// not grow without bound. 0 means keep every lead, which is what tests
	// want.
	MaxLeads int
	// IndexDelay is how long the search index lags writes: a contact
	// created, or whose emails a PUT changed, is found by search (under its
	// new addresses) only IndexDelay later, measured on Now. Until then a
	// changed contact is still found under its old addresses. 0 means
	// searchable at once.
	IndexDelay time.Duration
}

// Validate reports the first problem with c. It never includes key values.
func (c Config) Validate() error {
	for i, k := range c.APIKeys {
		if k == "" {
			return fmt.Errorf("%w: APIKeys[%d] is empty", ErrInvalidConfig, i)
		}
		// Basic auth splits user and password at the first colon, so a key
		// holding one could never authenticate.
		if strings.Contains(k, ":") {
			return fmt.Errorf("%w: APIKeys[%d] contains ':'", ErrInvalidConfig, i)
		}
	}
	for i, st := range c.Statuses {
		if strings.TrimSpace(st) == "" {
			return fmt.Errorf("%w: Statuses[%d] is empty", ErrInvalidConfig, i)
		}
	}
	if math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) || c.RateLimit < 0 {
		return fmt.Errorf("%w: RateLimit must be a finite number >= 0, got %v", ErrInvalidConfig, c.RateLimit)
	}
	if c.RateBurst < 0 {
		return fmt.Errorf("%w: RateBurst must be >= 0, got %d", ErrInvalidConfig, c.RateBurst)
	}
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("%w: MaxBodyBytes must be >= 0, got %d", ErrInvalidConfig, c.MaxBodyBytes)
	}
	if c.IndexDelay < 0 {
		return fmt.Errorf("%w: IndexDelay must be >= 0, got %v", ErrInvalidConfig, c.IndexDelay)
	}
	if c.MaxLeads < 0 {
		return fmt.Errorf("%w: MaxLeads must be >= 0, got %d", ErrInvalidConfig, c.MaxLeads)
	}
	return nil
}

// burst is the effective bucket size.
func (c Config) burst() int {
	if c.RateBurst > 0 {
		return c.RateBurst
	}
	return max(1, int(math.Ceil(c.RateLimit)))
}

// Endpoint names a Close API operation the emulator can inject faults into
// (see Faults.ErrorEndpoints).
type Endpoint string

// The faultable endpoints.
const (
	EndpointCreateLead    Endpoint = "create_lead"    // POST /api/v1/lead/
	EndpointGetLead       Endpoint = "get_lead"       // GET /api/v1/lead/{id}/
	EndpointSearch        Endpoint = "search"         // POST /api/v1/data/search/
	EndpointUpdateContact Endpoint = "update_contact" // PUT /api/v1/contact/{id}/
	EndpointUpdateLead    Endpoint = "update_lead"    // PUT /api/v1/lead/{id}/
	EndpointMerge         Endpoint = "merge"          // POST /api/v1/lead/merge/
)

// Endpoints lists every Endpoint, in the order above.
var Endpoints = []Endpoint{
	EndpointCreateLead, EndpointGetLead, EndpointSearch,
	EndpointUpdateContact, EndpointUpdateLead, EndpointMerge,
}

func knownEndpoint(e Endpoint) bool { return slices.Contains(Endpoints, e) }

// Faults configures injected failures. The zero value injects nothing.
type Faults struct {
	// ErrorEndpoints are the endpoints ErrorRate, Script and StatusForEmail
	// apply to; empty means EndpointCreateLead only. Each request to any of
	// them consumes the script (or draws ErrorRate) in arrival order.
	// StatusForEmail matches a search's queried address and the addresses
	// a contact PUT sends, besides a created lead's contact addresses.
	ErrorEndpoints []Endpoint
	// ErrorRate is the fraction of requests to ErrorEndpoints (by default
	// POST /lead/) answered with ErrorStatus, drawn from a deterministic RNG
	// seeded by Seed. Nothing is created or changed.
	ErrorRate float64
	// ErrorStatus is the status ErrorRate injects; 0 means 503.
	ErrorStatus int
	// Seed seeds the RNGs behind every rate (one independent stream per
	// rate, so enabling one does not change which requests another picks).
	Seed int64
	// Script holds statuses for the next len(Script) requests to
	// ErrorEndpoints (by default POST /lead/) that pass auth and the rate
	// limit, in order; each is consumed as used. 0 or a 2xx means "behave
	// normally" for that request. Script wins over ErrorRate.
	Script []int
	// Latency is added before answering any request. It ends early when the
	// request's context is cancelled (client gone or server shutting down).
	Latency time.Duration
	// DropConnRate is the fraction of requests whose connection is closed
	// without any response.
	DropConnRate float64
	// StatusForEmail forces a status for POST /lead/ requests (and searches
	// and contact PUTs, if in ErrorEndpoints) whose email (trimmed,
	// lowercased) is a key. 2xx means behave normally.
	StatusForEmail map[string]int
	// RateReset is the reset advertised on injected 429s (RateLimit reset and
	// Retry-After); 0 means 1s.
	RateReset time.Duration

	// The after-create faults act on a POST /lead/ only once its lead has
	// been stored, and each such lead draws once from every after-create rate
	// that is set (so the n-th created lead's fate depends only on the seed).
	// A lead stored but not answered with a success is counted in
	// Stats.AbandonedAfterCreate; it stays stored, as in Close.

	// LatencyAfterCreate delays the answer to a created lead (see
	// LatencyAfterCreateRate). If the request's context ends during the delay
	// (client timeout or hang-up, or server shutdown) the connection is closed
	// without a response and the request counts as abandoned. A response
	// written just as the client gives up is not counted, so for exact counts
	// make the delay far longer, or far shorter, than the client's timeout.
	LatencyAfterCreate time.Duration
	// LatencyAfterCreateRate is the fraction of created leads that get
	// LatencyAfterCreate. 0 means every one (when LatencyAfterCreate is set).
	LatencyAfterCreateRate float64
	// DropAfterCreateRate is the fraction of created leads whose connection
	// is then closed without any response (after LatencyAfterCreate, if any).
	DropAfterCreateRate float64
	// ErrorAfterCreateRate is the fraction of created leads answered with
	// ErrorStatus (502 if ErrorStatus is below 400) instead of 200: the
	// gateway failed after Close stored the lead. DropAfterCreateRate wins
	// when both pick the same lead.
	ErrorAfterCreateRate float64
}

// Validate reports the first problem with f.
func (f Faults) Validate() error {
	rates := []struct {
		name string
		r    float64
	}{
		{"ErrorRate", f.ErrorRate}, {"DropConnRate", f.DropConnRate},
		{"LatencyAfterCreateRate", f.LatencyAfterCreateRate},
		{"DropAfterCreateRate", f.DropAfterCreateRate}, {"ErrorAfterCreateRate", f.ErrorAfterCreateRate},
	}
	for _, r := range rates {
		if math.IsNaN(r.r) || r.r < 0 || r.r > 1 {
			return fmt.Errorf("%w: %s must be within [0, 1], got %v", ErrInvalidConfig, r.name, r.r)
		}
	}
	if f.ErrorStatus != 0 && !injectable(f.ErrorStatus) {
		return fmt.Errorf("%w: ErrorStatus %d is not within 200..599", ErrInvalidConfig, f.ErrorStatus)
	}
	for i, st := range f.Script {
		if st != 0 && !injectable(st) {
			return fmt.Errorf("%w: Script[%d] = %d is not 0 or within 200..599", ErrInvalidConfig, i, st)
		}
	}
	for i, e := range f.ErrorEndpoints {
		if !knownEndpoint(e) {
			return fmt.Errorf("%w: ErrorEndpoints[%d] = %q is not one of %v", ErrInvalidConfig, i, e, Endpoints)
		}
	}
	for _, st := range f.StatusForEmail {
		if !injectable(st) {
			// The email itself is personal data; keep it out of the error.
			return fmt.Errorf("%w: a StatusForEmail status %d is not within 200..599", ErrInvalidConfig, st)
		}
	}
	if f.Latency < 0 || f.RateReset < 0 || f.LatencyAfterCreate < 0 {
		return fmt.Errorf("%w: Latency, LatencyAfterCreate and RateReset must be >= 0", ErrInvalidConfig)
	}
	return nil
}

// injectable reports whether status can be written as a final response.
// 1xx would be sent as an informational response followed by a 200, which
// is not a fault anyone means to inject.
func injectable(status int) bool { return status >= 200 && status <= 599 }
