package validate

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// TargetLabels are the labels Prometheus (with the ServiceMonitor) puts on
// every scraped series, which /metrics itself does not have.
var TargetLabels = []string{"namespace", "pod", "job", "instance", "service", "endpoint", "container"}

// ExternalMetrics are metrics an alert may use that closesink does not
// serve, each with where it comes from. Everything else must be in
// closesink's /metrics.
var ExternalMetrics = map[string]string{
	"up":                    "Prometheus: 1 when the last scrape of a target succeeded",
	"kube_pod_status_ready": "kube-state-metrics: the pod's Ready condition (readiness probe /readyz)",
	"kube_pod_container_status_restarts_total": "kube-state-metrics: container restarts (closesink exits 2 when a start-up check fails)",
}

// Selector is one metric selector of an expression.
type Selector struct {
	Metric   string
	Matchers []*labels.Matcher // without __name__
}

// Query is what a PromQL expression uses.
type Query struct {
	Selectors []Selector
	Grouping  []string // labels of by/without and on/ignoring/group_left/group_right
	// Aggregations holds the by labels of each by-aggregation (one with
	// without keeps the labels it does not list, so it is left out).
	Aggregations [][]string
}

// NewParser is Prometheus' own PromQL parser with its default functions.
func NewParser() parser.Parser { return parser.NewParser(parser.Options{}) }

// Analyze parses expr with Prometheus' PromQL parser and lists the metric
// selectors and grouping labels it uses.
func Analyze(p parser.Parser, expr string) (Query, error) {
	e, err := p.ParseExpr(expr)
	if err != nil {
		return Query{}, err
	}
	var q Query
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			s := Selector{Metric: n.Name}
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName {
					if m.Type == labels.MatchEqual {
						s.Metric = m.Value
					}
					continue
				}
				s.Matchers = append(s.Matchers, m)
			}
			q.Selectors = append(q.Selectors, s)
		case *parser.AggregateExpr:
			q.Grouping = append(q.Grouping, n.Grouping...)
			if !n.Without {
				q.Aggregations = append(q.Aggregations, n.Grouping)
			}
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				q.Grouping = append(q.Grouping, n.VectorMatching.MatchingLabels...)
				q.Grouping = append(q.Grouping, n.VectorMatching.Include...)
			}
		}
		return nil
	})
	return q, nil
}

// CheckQuery checks that every metric q uses exists in the live /metrics
// (or is a declared external metric), that every label it filters or
// groups by exists on the metrics it uses (or is a target label), and that
// every label value it matches exactly occurs in /metrics. What a query
// uses is added to used.
func CheckQuery(live *Live, q Query, used map[string]bool) []error {
	var errs []error
	known := map[string]bool{}
	for _, l := range TargetLabels {
		known[l] = true
	}
	for _, s := range q.Selectors {
		if s.Metric == "" {
			errs = append(errs, fmt.Errorf("a selector without a metric name: %v", s.Matchers))
			continue
		}
		used[s.Metric] = true
		if _, ext := ExternalMetrics[s.Metric]; ext {
			for _, m := range s.Matchers {
				known[m.Name] = true
			}
			continue
		}
		f, ok := live.Series(s.Metric)
		if !ok {
			errs = append(errs, fmt.Errorf("metric %s is not in closesink's /metrics%s", s.Metric, suggest(live, s.Metric)))
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				known[lp.GetName()] = true
			}
		}
		if f.GetType().String() == "HISTOGRAM" {
			known["le"] = true
		}
		for _, m := range s.Matchers {
			if slices.Contains(TargetLabels, m.Name) {
				continue
			}
			vals, ok := LabelValues(f, m.Name)
			if !ok {
				errs = append(errs, fmt.Errorf("%s has no label %q", s.Metric, m.Name))
				continue
			}
			if m.Type == labels.MatchEqual && m.Value != "" && !vals[m.Value] {
				errs = append(errs, fmt.Errorf("%s{%s=%q}: no such series in /metrics (values: %s)", s.Metric, m.Name, m.Value, keys(vals)))
			}
		}
	}
	for _, g := range q.Grouping {
		if !known[g] {
			errs = append(errs, fmt.Errorf("grouping label %q is on none of the metrics used", g))
		}
	}
	return errs
}

func suggest(live *Live, name string) string {
	var near []string
	stem := strings.TrimSuffix(strings.TrimSuffix(name, "_total"), "_bucket")
	for n := range live.Families {
		if strings.HasPrefix(n, stem[:min(len(stem), 14)]) {
			near = append(near, n)
		}
	}
	if len(near) == 0 {
		return ""
	}
	sort.Strings(near)
	return " (similar: " + strings.Join(near, ", ") + ")"
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
