package closeemu

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// faultState is the live fault configuration. It is guarded by Server.mu.
type faultState struct {
	f       Faults
	on      map[Endpoint]bool // where script, ErrorRate and emails apply
	script  []int
	emails  map[string]int
	errRNG  *rand.Rand
	dropRNG *rand.Rand
	// One stream per after-create rate; see faults_create.go.
	latAfterRNG, dropAfterRNG, errAfterRNG *rand.Rand
}

// Distinct second seeds give every rate an independent stream from one
// Seed, so turning one on does not reshuffle the others.
const (
	errStream       = 0x6572726f72       // "error"
	dropStream      = 0x64726f70         // "drop"
	latAfterStream  = 0x6c61742b63726561 // "lat+crea"
	dropAfterStream = 0x64726f702b637265 // "drop+cre"
	errAfterStream  = 0x6572722b63726561 // "err+crea"
)

func (fs *faultState) set(f Faults) {
	f.ErrorRate = clampRate(f.ErrorRate)
	f.DropConnRate = clampRate(f.DropConnRate)
	f.LatencyAfterCreateRate = clampRate(f.LatencyAfterCreateRate)
	f.DropAfterCreateRate = clampRate(f.DropAfterCreateRate)
	f.ErrorAfterCreateRate = clampRate(f.ErrorAfterCreateRate)
	if f.ErrorStatus == 0 {
		f.ErrorStatus = http.StatusServiceUnavailable
	}
	f.Latency = max(f.Latency, 0)
	f.LatencyAfterCreate = max(f.LatencyAfterCreate, 0)
	if f.RateReset <= 0 {
		f.RateReset = time.Second
	}
	fs.on = map[Endpoint]bool{}
	for _, e := range f.ErrorEndpoints {
		fs.on[e] = true
	}
	if len(fs.on) == 0 {
		fs.on[EndpointCreateLead] = true
	}
	f.ErrorEndpoints = nil
	fs.script = append([]int(nil), f.Script...)
	f.Script = nil
	fs.emails = make(map[string]int, len(f.StatusForEmail))
	for e, st := range f.StatusForEmail {
		fs.emails[strings.ToLower(strings.TrimSpace(e))] = st
	}
	f.StatusForEmail = nil
	fs.f = f
	fs.errRNG = rand.New(rand.NewPCG(uint64(f.Seed), errStream))
	fs.dropRNG = rand.New(rand.NewPCG(uint64(f.Seed), dropStream))
	fs.latAfterRNG = rand.New(rand.NewPCG(uint64(f.Seed), latAfterStream))
	fs.dropAfterRNG = rand.New(rand.NewPCG(uint64(f.Seed), dropAfterStream))
	fs.errAfterRNG = rand.New(rand.NewPCG(uint64(f.Seed), errAfterStream))
}

func clampRate(r float64) float64 {
	if math.IsNaN(r) || r < 0 {
		return 0
	}
	return math.Min(r, 1)
}

// drawDrop decides whether this request's connection is dropped. The RNG is
// only consulted when the rate is set, so the sequence is a function of the
// seed and the request count alone.
func (fs *faultState) drawDrop() bool {
	return fs.f.DropConnRate > 0 && fs.dropRNG.Float64() < fs.f.DropConnRate
}

// nextStatus consumes the script or draws ErrorRate for one request to e.
// It returns 0 when the request should be handled normally, and always for
// an endpoint not in ErrorEndpoints.
func (fs *faultState) nextStatus(e Endpoint) int {
	if !fs.on[e] {
		return 0
	}
	if len(fs.script) > 0 {
		st := fs.script[0]
		fs.script = fs.script[1:]
		return normalFor2xx(st)
	}
	if fs.f.ErrorRate > 0 && fs.errRNG.Float64() < fs.f.ErrorRate {
		return normalFor2xx(fs.f.ErrorStatus)
	}
	return 0
}

// statusFor returns the status forced for the first matching email, or 0
// (always for an endpoint not in ErrorEndpoints).
func (fs *faultState) statusFor(e Endpoint, emails []string) int {
	if len(fs.emails) == 0 || !fs.on[e] {
		return 0
	}
	for _, e := range emails {
		if st, ok := fs.emails[e]; ok {
			return normalFor2xx(st)
		}
	}
	return 0
}

// normalFor2xx maps "succeed" statuses to 0 (behave normally): a success
// cannot be faked without creating the lead.
func normalFor2xx(st int) int {
	if st >= 200 && st <= 299 {
		return 0
	}
	return st
}

// endpointFault returns the injected status for a request to e (0 = none)
// and the reset to advertise if it is a 429. Handlers call it first, before
// reading the body.
func (s *Server) endpointFault(e Endpoint) (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.nextStatus(e), s.faults.f.RateReset
}

// emailFault is StatusForEmail for a request to e about emails (trimmed,
// lowercased).
func (s *Server) emailFault(e Endpoint, emails []string) (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.statusFor(e, emails), s.faults.f.RateReset
}

// faulted answers an injected fault for a request to e, if one is due.
func (s *Server) faulted(w http.ResponseWriter, e Endpoint) bool {
	st, reset := s.endpointFault(e)
	if st != 0 {
		s.writeInjected(w, st, reset)
	}
	return st != 0
}

// emailFaulted answers StatusForEmail for a request to e, if one matches.
func (s *Server) emailFaulted(w http.ResponseWriter, e Endpoint, emails []string) bool {
	st, reset := s.emailFault(e, emails)
	if st != 0 {
		s.writeInjected(w, st, reset)
	}
	return st != 0
}

// dropConnection closes the client connection without writing a response.
// Where hijacking is impossible (HTTP/2, or a recorder in a unit test) it
// falls back to a bodiless 502 with Connection: close, the nearest
// observable equivalent that does not panic.
func (s *Server) dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
		return
	}
	w.Header().Set("Connection", "close")
	s.writeBody(w, http.StatusBadGateway, "text/plain; charset=utf-8", nil)
}

// readAhead buffers the request body (up to the size cap plus one byte, so
// the cap is still enforced later) before an injected delay. net/http only
// notices a client hanging up, and cancels the request context, once the
// body has been read to EOF; without this a POST could not be abandoned.
func (s *Server) readAhead(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
	rest := r.Body
	if err != nil {
		rest = io.NopCloser(errReader{err})
	}
	r.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(buf), rest), Closer: r.Body}
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// wait blocks for d or until the request's context ends (client gone, or the
// server shutting down). It reports whether the full delay elapsed.
func wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
