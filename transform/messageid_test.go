package transform

import (
	"strings"
	"testing"
)

func TestMessageID(t *testing.T) {
	tr := mustNew(t, Config{})
	base := `"type":"track","event":"Lead Submitted","traits":{"email":"a@x.com"},"context":{"consent":{"marketing":true}}`
	cases := []struct{ name, field, want string }{
		{"uuid", `"messageId":" a1b2c3d4-e5f6 ",`, "a1b2c3d4-e5f6"},
		{"escaped", `"messageId":"m\u002d1",`, "m-1"},
		{"absent", ``, ""},
		{"number", `"messageId":42,`, ""},
		{"too long", `"messageId":"` + strings.Repeat("x", MaxMessageIDLen+1) + `",`, ""},
	}
	for _, tc := range cases {
		r := tr.Transform([]byte("{" + tc.field + base + "}"))
		if r.Kind != KindLead || r.MessageID != tc.want {
			t.Errorf("%s: kind %v, MessageID %q, want %q", tc.name, r.Kind, r.MessageID, tc.want)
		}
	}
}
