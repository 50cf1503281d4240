package closeemu

import (
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Stats counts what the emulator has seen since New or the last Reset. GET
// /_emulator/stats serves it as JSON with these field names.
type Stats struct {
	Requests    int         `json:"requests"`     // every request, including dropped and unauthorised ones (not /_emulator/)
	Created     int         `json:"created"`      // leads stored by POST /lead/, however the request was then answered
	ByStatus    map[int]int `json:"by_status"`    // responses written, by HTTP status
	RateLimited int         `json:"rate_limited"` // 429s from the rate limiter (not injected ones)
	Dropped     int         `json:"dropped"`      // connections closed without a response by DropConnRate
	Cancelled   int         `json:"cancelled"`    // requests abandoned during injected Latency (before any create)
	// AbandonedAfterCreate counts stored leads whose request got no success:
	// dropped by DropAfterCreateRate, answered an error by
	// ErrorAfterCreateRate, or whose context ended during LatencyAfterCreate.
	// Each is counted once, and drops and errors before the client can see
	// them. Created - AbandonedAfterCreate leads were acknowledged with a 200.
	AbandonedAfterCreate int `json:"abandoned_after_create"`
	// The upsert endpoints, counted when answered 200 (the change applied).
	Searches       int `json:"searches"`        // POST /data/search/
	ContactUpdates int `json:"contact_updates"` // PUT /contact/{id}/
	LeadUpdates    int `json:"lead_updates"`    // PUT /lead/{id}/
	Merges         int `json:"merges"`          // POST /lead/merge/ (and Server.Merge)
}

// Server is the emulator. It implements http.Handler; every method is safe
// for concurrent use and none blocks beyond a short internal lock, except
// ServeHTTP, which blocks for any injected Latency or LatencyAfterCreate.
type Server struct {
	// Immutable after New.
	now           func() time.Time
	orgID         string
	userID        string
	defaultStatus string
	statuses      map[string]bool // nil: any status_id accepted
	statusOrder   []string        // as configured (GET /status/lead/), else the default
	customFields  []CustomField   // GET /custom_field/lead/
	labels        map[string]string
	rate          float64
	burst         int
	maxBody       int64
	maxLeads      int
	indexDelay    time.Duration

	mu       sync.Mutex
	keys     map[string]bool
	buckets  map[string]*bucket
	faults   faultState
	leads    []*leadRec // creation order
	byID     map[string]*leadRec
	contacts map[string]*contactRec
	tokens   map[string]map[string]struct{} // search index: word → contact ids
	seq      uint64                         // last contactRec.seq
	updates  []Update
	stats    Stats
	// delaying is how many created leads are waiting out LatencyAfterCreate,
	// so tests can tell a delayed answer from a slow one without timing.
	delaying int
}

// New builds a Server from cfg. It does not fail: call cfg.Validate first to
// catch mistakes; New ignores empty keys and treats an invalid RateLimit as 0.
func New(cfg Config) *Server {
	s := &Server{
		now:        cfg.Now,
		orgID:      cfg.OrganizationID,
		userID:     newID("user"),
		labels:     map[string]string{},
		maxBody:    cfg.MaxBodyBytes,
		maxLeads:   max(0, cfg.MaxLeads),
		indexDelay: max(0, cfg.IndexDelay),
		keys:       map[string]bool{},
		buckets:    map[string]*bucket{},
		byID:       map[string]*leadRec{},
		contacts:   map[string]*contactRec{},
		tokens:     map[string]map[string]struct{}{},
		stats:      Stats{ByStatus: map[int]int{}},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.orgID == "" {
		s.orgID = newID("orga")
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if r := cfg.RateLimit; r > 0 && !math.IsInf(r, 0) {
		s.rate = r
	}
	s.burst = Config{RateLimit: s.rate, RateBurst: max(0, cfg.RateBurst)}.burst()
	for _, k := range cfg.APIKeys {
		if k != "" {
			s.keys[k] = true
		}
	}
	for _, st := range cfg.Statuses {
		if st = strings.TrimSpace(st); st == "" {
			continue
		}
		if s.statuses == nil {
			s.statuses = map[string]bool{}
			s.defaultStatus = st
		}
		if !s.statuses[st] {
			s.statusOrder = append(s.statusOrder, st)
		}
		s.statuses[st] = true
	}
	if s.defaultStatus == "" {
		s.defaultStatus = newID("stat")
		s.statusOrder = []string{s.defaultStatus}
	}
	s.customFields = slices.Clone(cfg.CustomFields)
	maps.Copy(s.labels, cfg.StatusLabels)
	if s.labels[s.defaultStatus] == "" {
		s.labels[s.defaultStatus] = DefaultStatusLabel
	}
	s.faults.set(Faults{})
	return s
}

// AddKey starts accepting key. Safe for concurrent use.
func (s *Server) AddKey(key string) {
	if key == "" {
		return
	}
	s.mu.Lock()
	s.keys[key] = true
	s.mu.Unlock()
}

// RevokeKey stops accepting key immediately, like revoking it in Close's
// settings: the next request with it gets 401. Safe for concurrent use.
func (s *Server) RevokeKey(key string) {
	s.mu.Lock()
	delete(s.keys, key)
	delete(s.buckets, key)
	s.mu.Unlock()
}

// SetFaults replaces the fault configuration, restarting the fault RNGs from
// f.Seed and the script from its first entry. Out-of-range values are
// clamped (see Faults.Validate). Safe for concurrent use.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults.set(f)
	s.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByStatus = maps.Clone(s.stats.ByStatus)
	return st
}

// Reset forgets stored leads and contacts, recorded updates, counters and
// rate-limit buckets, so a test can start a fresh phase. Keys and faults are
// kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leads, s.updates = nil, nil
	s.byID = map[string]*leadRec{}
	s.contacts = map[string]*contactRec{}
	s.tokens = map[string]map[string]struct{}{}
	s.buckets = map[string]*bucket{}
	s.stats = Stats{ByStatus: map[int]int{}}
}

// ServeHTTP answers one request: injected connection drop and latency first
// (they model the network), then auth, rate limit, routing and the handler.
// The emulator's own /_emulator/ endpoints bypass all of that.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isAdminPath(r.URL.Path) {
		s.serveAdmin(w, r)
		return
	}
	drop, latency := s.beginRequest()
	if drop {
		s.dropConnection(w)
		return
	}
	if latency > 0 {
		s.readAhead(r)
	}
	if latency > 0 && !wait(r, latency) {
		s.mu.Lock()
		s.stats.Cancelled++
		s.mu.Unlock()
		// Returning without writing would make net/http send an empty 200,
		// which a client could mistake for success; close the connection.
		s.dropConnection(w)
		return
	}
	key, ok := s.authenticate(r)
	if !ok {
		s.writeError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	if !s.admit(w, key) {
		return
	}
	s.route(w, r)
}

func (s *Server) beginRequest() (drop bool, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	drop = s.faults.drawDrop()
	if drop {
		s.stats.Dropped++
	}
	return drop, s.faults.f.Latency
}

// authenticate accepts Basic auth whose username is a known key. The
// password is ignored, as Close documents it as empty.
func (s *Server) authenticate(r *http.Request) (string, bool) {
	user, _, ok := r.BasicAuth()
	if !ok || user == "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return user, s.keys[user]
}

// admit spends a token from key's bucket and sets the RateLimit header. It
// writes the 429 itself and returns false when the bucket is empty.
func (s *Server) admit(w http.ResponseWriter, key string) bool {
	if s.rate == 0 {
		return true
	}
	now := s.now()
	s.mu.Lock()
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(s.burst), last: now}
		s.buckets[key] = b
	}
	d := b.take(now, s.rate, s.burst)
	if !d.allowed {
		s.stats.RateLimited++
	}
	s.mu.Unlock()

	w.Header().Set("RateLimit", d.header())
	if d.allowed {
		return true
	}
	s.writeTooManyRequests(w, d.reset)
	return false
}

const (
	leadPath    = "/api/v1/lead/"
	mePath      = "/api/v1/me/"
	mergePath   = "/api/v1/lead/merge/"
	searchPath  = "/api/v1/data/search/"
	contactPath = "/api/v1/contact/"
)

// is reports whether p is path, with or without its trailing slash.
func is(p, path string) bool { return p == path || p+"/" == path }

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	isGet := r.Method == http.MethodGet || r.Method == http.MethodHead
	isPost, isPut := r.Method == http.MethodPost, r.Method == http.MethodPut
	switch {
	case is(p, leadPath):
		switch {
		case isGet:
			s.listLeads(w, r)
		case isPost:
			s.createLead(w, r)
		default:
			s.methodNotAllowed(w, "GET, HEAD, POST")
		}
	case is(p, mergePath):
		if !isPost {
			s.methodNotAllowed(w, "POST")
			return
		}
		s.mergeLeads(w, r)
	case strings.HasPrefix(p, leadPath):
		id, ok := objectID(p, leadPath)
		switch {
		case !ok:
			s.writeError(w, http.StatusNotFound, "Not found.")
		case isGet:
			s.getLead(w, id)
		case isPut:
			s.updateLead(w, r, id)
		default:
			s.methodNotAllowed(w, "GET, HEAD, PUT")
		}
	case strings.HasPrefix(p, contactPath):
		id, ok := objectID(p, contactPath)
		switch {
		case !ok:
			s.writeError(w, http.StatusNotFound, "Not found.")
		case isGet:
			s.getContact(w, id)
		case isPut:
			s.updateContact(w, r, id)
		default:
			s.methodNotAllowed(w, "GET, HEAD, PUT")
		}
	case is(p, searchPath):
		if !isPost {
			s.methodNotAllowed(w, "POST")
			return
		}
		s.search(w, r)
	case is(p, statusLeadPath), is(p, customFieldLeadPath):
		if !isGet {
			s.methodNotAllowed(w, "GET, HEAD")
			return
		}
		s.lookup(w, r)
	case is(p, mePath):
		if !isGet {
			s.methodNotAllowed(w, "GET, HEAD")
			return
		}
		s.me(w)
	default:
		s.writeError(w, http.StatusNotFound, "Not found.")
	}
}

// objectID extracts {id} from prefix + "{id}/" (the slash optional).
func objectID(p, prefix string) (string, bool) {
	id := strings.TrimSuffix(strings.TrimPrefix(p, prefix), "/")
	return id, id != "" && !strings.Contains(id, "/")
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, http.StatusMethodNotAllowed, "Method not allowed.")
}
