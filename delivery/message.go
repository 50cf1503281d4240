package delivery

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxMessageLen bounds Outcome.Message (it becomes a dead-letter header).
const MaxMessageLen = 1024

// errorText extracts Close's error text from a non-2xx body. It understands
// both of Close's shapes, {"error": "..."} and {"errors": [...],
// "field-errors": {...}} (an "error" object contributes its "message" or its
// JSON); any other body is used as text (5xx pages from proxies are often
// HTML). An empty body yields the status text.
func errorText(status int, body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		if s, ok := closeErrorText(body); ok {
			return s
		}
	}
	if len(body) > 0 {
		return string(body)
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "HTTP status " + strconv.Itoa(status)
}

func closeErrorText(body []byte) (string, bool) {
	var eb struct {
		Error       json.RawMessage            `json:"error"`
		Errors      []json.RawMessage          `json:"errors"`
		FieldErrors map[string]json.RawMessage `json:"field-errors"`
	}
	if json.Unmarshal(body, &eb) != nil {
		return "", false
	}
	var parts []string
	if len(eb.Error) > 0 && string(eb.Error) != "null" {
		var obj struct {
			Message string `json:"message"`
		}
		if eb.Error[0] == '{' && json.Unmarshal(eb.Error, &obj) == nil && obj.Message != "" {
			parts = append(parts, obj.Message)
		} else {
			parts = append(parts, rawText(eb.Error))
		}
	}
	for _, e := range eb.Errors {
		parts = append(parts, rawText(e))
	}
	keys := make([]string, 0, len(eb.FieldErrors))
	for k := range eb.FieldErrors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, k+": "+rawText(eb.FieldErrors[k]))
	}
	if len(parts) == 0 {
		return "", false
	}
	return strings.Join(parts, "; "), true
}

// rawText renders a JSON string as its value and anything else as compact JSON.
func rawText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return string(raw)
}

// cleanMessage collapses whitespace and control characters (the message ends
// up in a Kafka header and in log lines), drops invalid UTF-8 and truncates to
// MaxMessageLen bytes on a rune boundary.
func cleanMessage(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == ' ' || r == '\u00a0' || r == '\u2028' || r == '\u2029'
	}), " ")
	if len(s) <= MaxMessageLen {
		return s
	}
	cut := MaxMessageLen - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
