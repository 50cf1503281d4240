package closeemu

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// adminPrefix is the emulator's own namespace, outside Close's /api/.
const adminPrefix = "/_emulator/"

// StatsPath serves Stats as JSON, for tests that run the emulator in another
// process. It needs no API key, injects no fault, does not touch the rate
// limiter or the fault RNGs, and is not counted in Stats.
const StatsPath = adminPrefix + "stats"

func isAdminPath(p string) bool {
	return p == strings.TrimSuffix(adminPrefix, "/") || strings.HasPrefix(p, adminPrefix)
}

// serveAdmin answers /_emulator/ requests. Its responses are not counted in
// Stats.ByStatus, so reading the stats never changes them.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	var (
		status = http.StatusOK
		body   any
	)
	switch p := strings.TrimSuffix(r.URL.Path, "/"); {
	case p != StatsPath:
		status, body = http.StatusNotFound, map[string]string{"error": "Not found."}
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		status, body = http.StatusMethodNotAllowed, map[string]string{"error": "Method not allowed."}
	default:
		body = s.Stats()
	}
	w.Header().Set("Cache-Control", "no-store")
	writeUncounted(w, status, body)
}

// writeUncounted is writeJSON without the Stats.ByStatus count.
func writeUncounted(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only reachable through a programming error in this package.
		status, body = http.StatusInternalServerError, []byte(`{"error":"Internal error."}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
