package delivery

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"error string", 401, `{"error": "Unauthorized"}`, "Unauthorized"},
		{"errors and field-errors", 400, `{"errors": ["bad lead"], "field-errors": {"status": "Not a valid choice.", "name": "This field is required."}}`,
			"bad lead; name: This field is required.; status: Not a valid choice."},
		{"nested field errors", 400, `{"errors": [], "field-errors": {"contacts": {"0": {"emails": "invalid"}}}}`,
			`contacts: {"0":{"emails":"invalid"}}`},
		{"error object with message", 429, `{"error": {"message": "Too many requests", "rate_reset": 1}}`, "Too many requests"},
		{"error object without message", 429, `{"error": {"rate_reset": 1}}`, `{"rate_reset":1}`},
		{"unrelated JSON", 403, `{"detail": "forbidden"}`, `{"detail": "forbidden"}`},
		{"html", 502, "<html>\n<body>Bad Gateway</body>\n</html>", "<html>\n<body>Bad Gateway</body>\n</html>"},
		{"empty body", 503, "", "Service Unavailable"},
		{"empty body unknown status", 599, "  ", "HTTP status 599"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorText(tt.status, []byte(tt.body)); got != tt.want {
				t.Errorf("errorText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCleanMessage(t *testing.T) {
	if got := cleanMessage("a\n\tb\r\n  c\x00d"); got != "a b c d" {
		t.Errorf("whitespace/control: got %q", got)
	}
	if got := cleanMessage("ok\xffbad"); got != "okbad" {
		t.Errorf("invalid utf-8: got %q", got)
	}
	long := strings.Repeat("é", 2000) // 4000 bytes
	got := cleanMessage(long)
	if len(got) > MaxMessageLen || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("truncation: len %d valid %v", len(got), utf8.ValidString(got))
	}
	if short := cleanMessage("fine"); short != "fine" {
		t.Errorf("short: got %q", short)
	}
}
