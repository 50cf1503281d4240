package delivery

import (
	"fmt"
	"log/slog"
)

// Secret is a string that never prints itself: String, GoString, Format (every
// verb), MarshalJSON, MarshalText and LogValue all produce "[redacted]", so a
// Config can be logged or dumped without leaking the Close API key. Use
// Reveal to get the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value. Call it only where the value is sent.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb (%s, %q, %x, %d, %v ...)
// can print the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (used by YAML and map keys).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
