package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/closesink/closesink/internal/config"
	"github.com/closesink/closesink/pipeline"
	"github.com/closesink/closesink/pkg/closeemu"
)

// The parts of the demo's report about actions: what each delivered record
// did in Close, and the updates upsert mode sends.

// demoUpdate is a PUT Close applied.
type demoUpdate struct {
	Endpoint closeemu.Endpoint
	ID       string   // the contact or lead id
	Samples  []string // the samples whose records updated that contact or lead
	Body     []byte   // the request body, byte for byte
}

// knownAction reports whether a delivered record's action fits mode:
// create mode only ever creates.
func knownAction(mode string, a pipeline.Action) bool {
	if mode != config.ModeUpsert {
		return a == pipeline.ActionCreated
	}
	switch a {
	case pipeline.ActionCreated, pipeline.ActionUpdated, pipeline.ActionUnchanged, pipeline.ActionSkipped:
		return true
	}
	return false
}

// actionCounts counts the delivered records by action.
func (r *demoResult) actionCounts() map[pipeline.Action]int {
	n := map[pipeline.Action]int{}
	for _, rec := range r.Records {
		if rec.Got.Outcome == pipeline.Delivered {
			n[rec.Action]++
		}
	}
	return n
}

// collectUpdates keeps the PUTs Close applied and traces each to the
// records whose action was "updated" for that contact or lead (one person's
// events share a key, so a partition, and are delivered in offset order).
func (r *demoResult) collectUpdates(ups []closeemu.Update) {
	var updaters []demoRecord
	for _, rec := range r.Records {
		if rec.Action == pipeline.ActionUpdated {
			updaters = append(updaters, rec)
		}
	}
	sort.Slice(updaters, func(i, j int) bool {
		a, b := updaters[i], updaters[j]
		return a.Partition < b.Partition || a.Partition == b.Partition && a.Offset < b.Offset
	})
	by := func(id string) []string {
		var out []string
		for _, rec := range updaters {
			if (rec.LeadID == id || rec.ContactID == id) && !slices.Contains(out, rec.Sample) {
				out = append(out, rec.Sample)
			}
		}
		return out
	}
	for _, u := range ups {
		r.Updates = append(r.Updates, demoUpdate{Endpoint: u.Endpoint, ID: u.ID, Samples: by(u.ID), Body: u.Body})
	}
	for i := range r.Leads {
		l := &r.Leads[i]
		ids := append([]string{l.LeadID}, l.Now.ContactIDs...)
		for _, u := range r.Updates {
			if slices.Contains(ids, u.ID) {
				for _, s := range u.Samples {
					if !slices.Contains(l.UpdatedBy, s) {
						l.UpdatedBy = append(l.UpdatedBy, s)
					}
				}
				if len(u.Samples) == 0 && !slices.Contains(l.UpdatedBy, "an untraced record") {
					l.UpdatedBy = append(l.UpdatedBy, "an untraced record")
				}
			}
		}
	}
}

// printRecordsWithActions is the "Every record" table with each delivered
// record's action, and a line summing the actions up.
func (r *demoResult) printRecordsWithActions(w io.Writer) {
	fmt.Fprintln(w, "\nEvery record (partition/offset, sample, outcome, and for a delivered one its action in Close and lead)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, rec := range r.Records {
		if i == maxReportRows {
			fmt.Fprintf(tw, "  ...\t%d more\t\t\n", len(r.Records)-i)
			break
		}
		var note string
		switch {
		case rec.Got != rec.Expect:
			note = "UNEXPECTED: the sample expects " + rec.Expect.String()
		case rec.Action != "":
			note = fmt.Sprintf("%-9s  %s", rec.Action, rec.LeadID) // "unchanged" is the longest action
		}
		fmt.Fprintf(tw, "  %d/%d\t%s\t%s\t%s\n", rec.Partition, rec.Offset, rec.Sample, orNone(rec.Got.String()), note)
	}
	_ = tw.Flush()

	n := r.actionCounts()
	var events int
	for _, c := range n {
		events += c
	}
	fmt.Fprintf(w, "\nClose now holds %d leads for %d delivered lead events: created %d, updated %d, unchanged %d",
		len(r.Leads), events, n[pipeline.ActionCreated], n[pipeline.ActionUpdated], n[pipeline.ActionUnchanged])
	if n[pipeline.ActionSkipped] > 0 {
		fmt.Fprintf(w, ", skipped %d", n[pipeline.ActionSkipped])
	}
	fmt.Fprintln(w, ".")
}

// printUpdates lists the PUTs Close received.
func (r *demoResult) printUpdates(w io.Writer) {
	fmt.Fprintf(w, "\nUpdates Close received (%d; each PUT sends only what the event changes)\n", len(r.Updates))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, u := range r.Updates {
		if i == maxReportRows {
			fmt.Fprintf(tw, "  ...\t%d more\t\n", len(r.Updates)-i)
			break
		}
		by := strings.Join(u.Samples, ", ")
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", updateRequest(u), by, oneLine(string(u.Body)))
	}
	_ = tw.Flush()
}

// updateRequest is the method and path of an update.
func updateRequest(u demoUpdate) string {
	switch u.Endpoint {
	case closeemu.EndpointUpdateContact:
		return "PUT /api/v1/contact/" + u.ID + "/"
	case closeemu.EndpointUpdateLead:
		return "PUT /api/v1/lead/" + u.ID + "/"
	}
	return string(u.Endpoint) + " " + u.ID
}

// indentJSON is body indented for the report, or body as it is if it is
// not JSON.
func indentJSON(body []byte) string {
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "  ", "  ") != nil {
		return string(body)
	}
	return pretty.String()
}

// nowLead is a lead as it is now in Close, in the shape of the create
// request, so a reader can compare the two.
type nowLead struct {
	Name        string       `json:"name"`
	StatusID    string       `json:"status_id,omitempty"`
	URL         string       `json:"url,omitempty"`
	Description string       `json:"description,omitempty"`
	Contacts    []nowContact `json:"contacts,omitempty"`
}

type nowContact struct {
	Name   string     `json:"name,omitempty"`
	Title  string     `json:"title,omitempty"`
	Emails []nowEmail `json:"emails,omitempty"`
	Phones []nowPhone `json:"phones,omitempty"`
}

type nowEmail struct {
	Email string `json:"email"`
}

type nowPhone struct {
	Phone string `json:"phone"`
}

// leadNowJSON renders v like a create request: custom fields as
// "custom.<id>" keys after the fixed ones, sorted.
func leadNowJSON(v closeemu.LeadView) []byte {
	l := nowLead{Name: v.Name, StatusID: v.StatusID, URL: v.URL, Description: v.Description}
	for _, c := range v.Contacts {
		nc := nowContact{Name: c.Name, Title: c.Title}
		for _, e := range c.Emails {
			nc.Emails = append(nc.Emails, nowEmail{e.Email})
		}
		for _, p := range c.Phones {
			nc.Phones = append(nc.Phones, nowPhone{p.Phone})
		}
		l.Contacts = append(l.Contacts, nc)
	}
	body, err := json.Marshal(l)
	if err != nil || len(v.Custom) == 0 {
		return body
	}
	keys := make([]string, 0, len(v.Custom))
	for k := range v.Custom {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := bytes.TrimSuffix(body, []byte("}"))
	for _, k := range keys {
		key, _ := json.Marshal("custom." + k)
		out = fmt.Appendf(out, ",%s:%s", key, v.Custom[k])
	}
	return append(out, '}')
}
