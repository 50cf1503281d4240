package transform

import "testing"

func TestMaskHelpers(t *testing.T) {
	for in, want := range map[string]string{"": "", "Jane": "J***", "Élodie  van Dam": "É*** v*** D***"} {
		if got := maskName(in); got != want {
			t.Errorf("maskName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"+447700900123": "+**********23", "123": "***", "5551234": "*****34"} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
	if got := MaskText(`email "jane@acme.com" is taken by bob@x.io`); got != `email "j***@acme.com" is taken by b***@x.io` {
		t.Errorf("MaskText = %q", got)
	}
}

func TestMaskTextHidesPhones(t *testing.T) {
	for in, want := range map[string]string{
		`phones: "+44 7700 900123" is not valid`:                     `phones: "+************23" is not valid`,
		`Invalid phone number: 555-123-4567`:                         `Invalid phone number: **********67`,
		`phone 5551234567 rejected`:                                  `phone ********67 rejected`,
		`record value is 2000000 bytes, over the 1048576-byte limit`: `record value is 2000000 bytes, over the 1048576-byte limit`,
		`HTTP 503 after 7 attempt(s)`:                                `HTTP 503 after 7 attempt(s)`,
	} {
		if got := MaskText(in); got != want {
			t.Errorf("MaskText(%q) = %q, want %q", in, got, want)
		}
	}
}
