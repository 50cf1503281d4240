package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/closesink/closesink/deadletter"
	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/internal/metrics"
	"github.com/closesink/closesink/internal/samples"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
)

// demoRecord is one produced record and what the worker did with it.
type demoRecord struct {
	Sample    string
	Expect    samples.Expect
	Got       samples.Expect // zero Outcome: the worker reported no outcome
	Partition int32
	Offset    int64
	LeadID    string          // delivered only
	ContactID string          // delivered only, when Close said
	Action    pipeline.Action // delivered only: created, updated, unchanged or skipped
}

// demoLead is a lead as Close received it, and as it is now.
type demoLead struct {
	Sample string // the record that created it; "" if it could not be traced
	About  string
	LeadID string
	Body   []byte            // the create request's body, byte for byte
	Now    closeemu.LeadView // the lead as it is now in Close, updates applied
	// UpdatedBy names the samples whose records updated the lead or its
	// contact (upsert mode), in order; empty if it is as created.
	UpdatedBy []string
}

// demoDeadLetter is a record of the dead-letter topic.
type demoDeadLetter struct {
	Sample string // from the producer's header, which the DLQ keeps
	Info   deadletter.Info
}

// demoCount is one row of the outcome table.
type demoCount struct {
	Outcome pipeline.Kind
	Reason  string
	N       int64
}

// demoResult is everything the demo observed.
type demoResult struct {
	Mode        string // config.ModeCreate or config.ModeUpsert
	Records     []demoRecord
	Counts      []demoCount // the worker's own metrics, from its final summary
	Leads       []demoLead
	DeadLetters []demoDeadLetter
	Updates     []demoUpdate // the PUTs Close applied, in order
	Mismatches  []string
	Elapsed     time.Duration // start to all offsets committed and worker stopped
}

type recordPos struct {
	p int32
	o int64
}

// collectResult joins the produced records with the outcome the pipeline
// reported for each (partition, offset), the worker's counters, the leads
// the emulator stored and the dead-letter records.
func collectResult(mode string, all []samples.Sample, produced []*kgo.Record, outcomes map[recordPos]pipeline.Outcome,
	counters metrics.Snapshot, emu *closeemu.Server, dlq []*kgo.Record) *demoResult {
	bySample := map[string]samples.Sample{}
	order := map[string]int{} // the report follows the file's order: the product page's example first
	for i, s := range all {
		bySample[s.Name], order[s.Name] = s, i
	}
	got := map[recordPos]samples.Expect{}
	leadAt := map[string]recordPos{}              // lead id -> the record that created it
	delivered := map[recordPos]pipeline.Outcome{} // record -> its delivered outcome
	res := &demoResult{Mode: mode, Counts: snapshotCounts(counters)}
	for pos, out := range outcomes {
		switch out.Kind {
		case pipeline.Delivered:
			got[pos] = samples.Expect{Outcome: pipeline.Delivered}
			delivered[pos] = out
			if out.Action == pipeline.ActionCreated {
				leadAt[out.LeadID] = pos
			}
		case pipeline.Dropped:
			got[pos] = samples.Expect{Outcome: pipeline.Dropped, Reason: string(out.DropReason)}
		case pipeline.DeadLettered:
			got[pos] = samples.Expect{Outcome: pipeline.DeadLettered, Reason: string(out.Class)}
		}
	}

	names := map[recordPos]string{}
	tally := map[samples.Expect]int64{}
	for _, r := range produced {
		name := headerValue(r, samples.HeaderSample)
		pos := recordPos{r.Partition, r.Offset}
		names[pos] = name
		d := delivered[pos]
		dr := demoRecord{Sample: name, Expect: bySample[name].Expect, Got: got[pos], Partition: r.Partition, Offset: r.Offset,
			LeadID: d.LeadID, ContactID: d.ContactID, Action: d.Action}
		tally[dr.Got]++
		switch {
		case dr.Got != dr.Expect:
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("%s (partition %d, offset %d): got %s, the sample expects %s",
				name, r.Partition, r.Offset, orNone(dr.Got.String()), dr.Expect))
		case dr.Got.Outcome == pipeline.Delivered && !knownAction(mode, dr.Action):
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("%s (partition %d, offset %d): delivered with action %q in %s mode",
				name, r.Partition, r.Offset, dr.Action, mode))
		}
		res.Records = append(res.Records, dr)
	}
	for _, c := range res.Counts {
		if n := tally[samples.Expect{Outcome: c.Outcome, Reason: c.Reason}]; n != c.N {
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("worker counted %d %s %s, per-record outcomes say %d", c.N, c.Outcome, c.Reason, n))
		}
	}
	sortCounts(res.Counts)
	sort.SliceStable(res.Records, func(i, j int) bool {
		a, b := res.Records[i], res.Records[j]
		if order[a.Sample] != order[b.Sample] {
			return order[a.Sample] < order[b.Sample]
		}
		return a.Partition < b.Partition || a.Partition == b.Partition && a.Offset < b.Offset
	})

	bodies := emu.LeadBodies()
	for i, l := range emu.Leads() {
		name := ""
		if pos, ok := leadAt[l.ID]; ok {
			name = names[pos]
		}
		now, _ := emu.Lead(l.ID)
		res.Leads = append(res.Leads, demoLead{Sample: name, About: bySample[name].About, LeadID: l.ID, Body: bodies[i], Now: now})
	}
	res.collectUpdates(emu.Updates())
	if created := res.actionCounts()[pipeline.ActionCreated]; created != len(res.Leads) {
		res.Mismatches = append(res.Mismatches, fmt.Sprintf("Close holds %d leads, but %d records say they created one", len(res.Leads), created))
	}
	sort.SliceStable(res.Leads, func(i, j int) bool { return order[res.Leads[i].Sample] < order[res.Leads[j].Sample] })
	for _, r := range dlq {
		info, _ := deadletter.Parse(r)
		res.DeadLetters = append(res.DeadLetters, demoDeadLetter{Sample: headerValue(r, samples.HeaderSample), Info: info})
	}
	return res
}

// snapshotCounts turns the worker's counters into report rows.
func snapshotCounts(s metrics.Snapshot) []demoCount {
	out := []demoCount{{Outcome: pipeline.Delivered, N: s.Delivered}}
	for reason, n := range s.Dropped {
		out = append(out, demoCount{pipeline.Dropped, reason, n})
	}
	for class, n := range s.DeadLettered {
		out = append(out, demoCount{pipeline.DeadLettered, class, n})
	}
	return out
}

func sortCounts(c []demoCount) {
	sort.Slice(c, func(i, j int) bool {
		if c[i].Outcome != c[j].Outcome {
			return c[i].Outcome < c[j].Outcome // delivered, dropped, dead-lettered
		}
		return c[i].Reason < c[j].Reason
	})
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "no outcome"
	}
	return s
}

// The report stays readable with a large --events: longer lists are cut.
const (
	maxReportRows  = 100
	maxReportLeads = 20
)

// printReport writes the human-readable report.
func (r *demoResult) printReport(w io.Writer) {
	fmt.Fprintf(w, "\nAll %d records processed and their offsets committed after %.1fs; the worker stopped gracefully.\n\n",
		len(r.Records), r.Elapsed.Seconds())

	fmt.Fprintln(w, "Outcomes (the worker's own counters)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var total int64
	for _, c := range r.Counts {
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", strings.ReplaceAll(c.Outcome.String(), "_", "-"), c.Reason, c.N)
		total += c.N
	}
	fmt.Fprintf(tw, "  total\t\t%d\n", total)
	_ = tw.Flush()

	if r.Mode == config.ModeUpsert {
		r.printRecordsWithActions(w)
	} else {
		fmt.Fprintln(w, "\nEvery record (partition/offset, sample, outcome)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, rec := range r.Records {
			if i == maxReportRows {
				fmt.Fprintf(tw, "  ...\t%d more\t\t\n", len(r.Records)-i)
				break
			}
			note := rec.LeadID
			if rec.Got != rec.Expect {
				note = "UNEXPECTED: the sample expects " + rec.Expect.String()
			}
			fmt.Fprintf(tw, "  %d/%d\t%s\t%s\t%s\n", rec.Partition, rec.Offset, rec.Sample, orNone(rec.Got.String()), note)
		}
		_ = tw.Flush()
	}

	if r.Mode == config.ModeUpsert {
		fmt.Fprintf(w, "\nLeads Close holds (%d): each as created and, if updated since, as it is now. The demo's\n", len(r.Leads))
		fmt.Fprintln(w, "people are made up, so their emails and phones are shown in full here; the worker's own logs mask them.")
	} else {
		fmt.Fprintf(w, "\nLeads Close received (%d). The demo's people are made up, so their emails and phones\n", len(r.Leads))
		fmt.Fprintln(w, "are shown in full here; the worker's own logs mask them.")
	}
	for i, l := range r.Leads {
		if i == maxReportLeads {
			fmt.Fprintf(w, "\n  ... and %d more\n", len(r.Leads)-i)
			break
		}
		fmt.Fprintf(w, "\n  # %s -> %s\n  # %s\n  %s\n", orNone(l.Sample), l.LeadID, l.About, indentJSON(l.Body))
		if len(l.UpdatedBy) > 0 {
			fmt.Fprintf(w, "  # now in Close, after updates by %s:\n  %s\n", strings.Join(l.UpdatedBy, ", "), indentJSON(leadNowJSON(l.Now)))
		}
	}
	if r.Mode == config.ModeUpsert {
		r.printUpdates(w)
	}

	fmt.Fprintf(w, "\nDead-letter topic %q (%d records; each keeps the original key, value and headers)\n", demoDLQTopic, len(r.DeadLetters))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLASS\tSTATUS\tSOURCE\tSAMPLE\tMESSAGE")
	for i, d := range r.DeadLetters {
		if i == maxReportRows {
			fmt.Fprintf(tw, "  ...\t\t\t%d more\t\n", len(r.DeadLetters)-i)
			break
		}
		status := "-"
		if d.Info.HTTPStatus > 0 {
			status = fmt.Sprint(d.Info.HTTPStatus)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s/%d/%d\t%s\t%s\n", d.Info.Class, status,
			d.Info.SourceTopic, d.Info.SourcePartition, d.Info.SourceOffset, d.Sample, oneLine(d.Info.Message))
	}
	_ = tw.Flush()

	if len(r.Mismatches) > 0 {
		fmt.Fprintln(w, "\nUNEXPECTED:")
		for _, m := range r.Mismatches {
			fmt.Fprintln(w, "  "+m)
		}
	}
	fmt.Fprintln(w)
}

func oneLine(s string) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) > 100 {
		return string(r[:97]) + "..."
	}
	return string(r)
}
