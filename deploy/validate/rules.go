package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"
)

// LoadAlerts reads alerts.yaml: strictly as the Prometheus Operator's
// PrometheusRule type, then its spec, as written, with Prometheus' own
// rule-file parser (rulefmt, unknown fields refused), which also parses
// every expression and template. That is what the operator does before it
// hands the rules to Prometheus.
func LoadAlerts(path string) (*monitoringv1.PrometheusRule, *rulefmt.RuleGroups, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	b, err := DecodeAll(path, data)
	if err != nil {
		return nil, nil, err
	}
	if len(b.PrometheusRules) != 1 || len(b.Objects) != 1 {
		return nil, nil, fmt.Errorf("%s: want exactly one PrometheusRule", path)
	}
	var doc struct {
		Spec yaml.Node `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	spec, err := yaml.Marshal(&doc.Spec)
	if err != nil {
		return nil, nil, err
	}
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, NewParser(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%s (spec as a Prometheus rule file): %w", path, errors.Join(errs...))
	}
	return b.PrometheusRules[0], groups, nil
}

// Dashboard is the part of a Grafana dashboard these checks read.
type Dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []Panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel (a row holds panels when collapsed).
type Panel struct {
	ID         int              `json:"id"`
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *json.RawMessage `json:"datasource"`
	GridPos    *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []Panel `json:"panels"`
}

// LoadDashboard reads a dashboard JSON file.
func LoadDashboard(path string) (*Dashboard, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// AllPanels flattens rows.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var grafanaVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z0-9_]+)`)

// Expand replaces Grafana's variables in a query so that PromQL can parse
// it: the interval variables by 5m, a dashboard variable by a plain value.
// Undefined variables are returned.
func (d *Dashboard) Expand(expr string) (string, []string) {
	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		defined[v.Name] = true
	}
	var undefined []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		s := grafanaVar.FindStringSubmatch(m)
		name := s[1] + s[2]
		switch {
		case strings.HasPrefix(name, "__"):
			switch name {
			case "__rate_interval", "__interval", "__range":
				return "5m"
			}
		case defined[name]:
			return "value"
		}
		undefined = append(undefined, name)
		return m
	})
	return out, undefined
}
