package jsoncompare

import (
	"github.com/closesink/closesink/transform"
	"slices"
	"testing"
	"time"
)

// BenchmarkDropPaired settles the drop-path decision on a shared, noisy
// machine: it alternates short bursts of the hand-written scanner (the
// frozen copy) and of one candidate on the same record, so both see the same load, and reports
// the median of the per-pair time ratios (x_handwritten; 2 means twice as
// slow). Each b.N iteration is one pair of bursts.
//
//	go test -run '^$' -bench DropPaired -benchtime 200x .
func BenchmarkDropPaired(b *testing.B) {
	const burst = 500
	for _, in := range []struct {
		name  string
		input []byte
	}{{"page_view", benchPageView}, {"non_lead_track", benchNonLeadTrack}} {
		// The service's own transform, on jsontext since this change.
		tr, err := transform.New(transform.Config{LeadStatusID: "stat_bench"})
		if err != nil {
			b.Fatal(err)
		}
		shipped := candidate{name: "transform_pkg", drop: func(data []byte) (bool, bool) {
			r := tr.Transform(data)
			return r.Kind != transform.KindDropped || r.Drop != transform.DropNotMapped, r.Kind != transform.KindInvalid
		}}
		for _, c := range append([]candidate{shipped}, candidates[1:]...) {
			b.Run(in.name+"/"+c.name, func(b *testing.B) {
				var ratios []float64
				for b.Loop() {
					start := time.Now()
					for range burst {
						handCandidate.drop(in.input)
					}
					hand := time.Since(start)
					start = time.Now()
					for range burst {
						c.drop(in.input)
					}
					ratios = append(ratios, float64(time.Since(start))/float64(hand))
				}
				slices.Sort(ratios)
				b.ReportMetric(ratios[len(ratios)/2], "x_handwritten")
			})
		}
	}
}
