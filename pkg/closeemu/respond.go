package closeemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// writeBody writes a complete response and counts its status.
func (s *Server) writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	s.mu.Lock()
	s.stats.ByStatus[status]++
	s.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client may be gone; nothing useful to do about it
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only reachable through a programming error in this package.
		s.writeBody(w, http.StatusInternalServerError, "application/json", []byte(`{"error":"Internal error."}`))
		return
	}
	s.writeBody(w, status, "application/json", body)
}

// writeError writes Close's {"error": "..."} shape.
func (s *Server) writeError(w http.ResponseWriter, status int, msg string) {
	s.writeJSON(w, status, map[string]string{"error": msg})
}

// validationBody is Close's 400 shape; both keys are always present.
type validationBody struct {
	Errors      []string    `json:"errors"`
	FieldErrors fieldErrors `json:"field-errors"`
}

func (s *Server) writeValidation(w http.ResponseWriter, errs []string, fe fieldErrors) {
	if errs == nil {
		errs = []string{}
	}
	if fe == nil {
		fe = fieldErrors{}
	}
	s.writeJSON(w, http.StatusBadRequest, validationBody{Errors: errs, FieldErrors: fe})
}

// writeTooManyRequests writes a 429 with Retry-After in whole seconds,
// rounded up; the RateLimit header (with the decimal reset) is set by the caller.
func (s *Server) writeTooManyRequests(w http.ResponseWriter, reset time.Duration) {
	secs := retryAfterSeconds(reset)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	s.writeError(w, http.StatusTooManyRequests, fmt.Sprintf("API rate limit exceeded, retry after %d seconds.", secs))
}

// writeInjected answers with a fault status, in the body shape Close (or the
// proxy in front of it) would use for that status.
func (s *Server) writeInjected(w http.ResponseWriter, status int, rateReset time.Duration) {
	if !injectable(status) {
		status = http.StatusInternalServerError
	}
	switch {
	case status == http.StatusTooManyRequests:
		w.Header().Set("RateLimit", rateLimitHeader(s.burst, 0, rateReset))
		s.writeTooManyRequests(w, rateReset)
	case status == http.StatusBadRequest:
		s.writeValidation(w, []string{"Injected fault."}, nil)
	case status >= 500:
		// Close's 5xx bodies are undocumented; a proxy's HTML page is the
		// common case and exercises clients that must not parse it as JSON.
		body := fmt.Sprintf("<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
		s.writeBody(w, status, "text/html; charset=utf-8", []byte(body))
	default:
		msg := http.StatusText(status)
		if msg == "" {
			msg = "Injected fault."
		}
		s.writeError(w, status, msg)
	}
}
