package replay

import (
	"fmt"

	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/transform"
)

// Preview says what replaying a record would do, for --dry-run. It mirrors
// pipeline.Process without any I/O. Safe for concurrent use.
type Preview struct {
	Transformer *transform.Transformer
	// MaxRecordBytes as in pipeline.Config; 0 means the pipeline default.
	MaxRecordBytes int
	// ShowPII prints emails, phones and names in full.
	ShowPII bool
}

// Describe returns one line: "send <lead JSON>", "drop <reason>" or
// "dead-letter invalid_event: <reason>". It never panics on any value.
func (p Preview) Describe(value []byte) string {
	limit := p.MaxRecordBytes
	if limit <= 0 {
		limit = pipeline.DefaultMaxRecordBytes
	}
	if len(value) > limit {
		return fmt.Sprintf("dead-letter invalid_event: record value is %d bytes, over the %d-byte limit", len(value), limit)
	}
	res := p.Transformer.Transform(value)
	switch res.Kind {
	case transform.KindDropped:
		return "drop " + string(res.Drop)
	case transform.KindInvalid:
		return "dead-letter invalid_event: " + p.maskText(res.Err.Error())
	}
	lead := *res.Lead
	if !p.ShowPII {
		lead = transform.MaskLead(lead)
	}
	body, err := lead.MarshalJSON()
	if err != nil {
		return "dead-letter invalid_event: encoding lead: " + err.Error()
	}
	return "send " + string(body)
}

func (p Preview) maskText(s string) string {
	if p.ShowPII {
		return s
	}
	return transform.MaskText(s)
}
