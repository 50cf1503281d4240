package replay

import (
	"fmt"
	"io"
	"text/tabwriter"

	"go.uber.org/zap"
)

// WriteTable writes the short human summary printed at the end of a replay.
func (s Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := []struct {
		name string
		n    int
	}{
		{"read", s.Read}, {"selected", s.Selected}, {"delivered", s.Delivered},
		{"dead-lettered again", s.DeadLettered}, {"dropped", s.Dropped},
		{"republished", s.Republished}, {"previewed (dry run)", s.Previewed},
		{"without value (re-queued; replay from the source)", s.Unreplayable},
		{"skipped (re-queued)", s.Skipped},
	}
	if s.DryRun {
		rows[len(rows)-1].name = "skipped (not selected)"
	}
	if s.Expired > 0 {
		rows = append(rows, struct {
			name string
			n    int
		}{"expired before read (retention)", int(s.Expired)})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\n", r.name, r.n)
	}
	fmt.Fprintf(tw, "finished\t%s\n", s.state())
	return tw.Flush()
}

func (s Summary) state() string {
	switch {
	case s.StoppedAtLimit:
		return "stopped at --limit (the rest waits for the next run)"
	case s.ReachedEnd:
		return "reached the end offsets listed at start"
	}
	return "stopped early (the rest waits for the next run)"
}

// Fields are the summary as log fields.
func (s Summary) Fields() []zap.Field {
	return []zap.Field{
		zap.Int("read", s.Read), zap.Int("selected", s.Selected), zap.Int("delivered", s.Delivered),
		zap.Int("dead_lettered", s.DeadLettered), zap.Int("dropped", s.Dropped),
		zap.Int("republished", s.Republished), zap.Int("previewed", s.Previewed),
		zap.Int("skipped", s.Skipped), zap.Int("unreplayable", s.Unreplayable), zap.Int64("expired", s.Expired), zap.Bool("reached_end", s.ReachedEnd),
		zap.Bool("stopped_at_limit", s.StoppedAtLimit),
	}
}
