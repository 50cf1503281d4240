package validate

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Every dashboard query parses after Grafana's variables are expanded,
// uses only metrics closesink serves, and every closesink_* metric except
// franz-go's closesink_kafka_* ones has a panel.
func TestDashboard(t *testing.T) {
	t.Parallel()
	d, err := LoadDashboard(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	l := must(t, live)
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("dashboard needs uid, title and schemaVersion")
	}
	p := NewParser()
	used := map[string]bool{}
	ids := map[int]bool{}
	queries := 0
	for _, pan := range d.AllPanels() {
		if ids[pan.ID] {
			t.Errorf("panel id %d twice", pan.ID)
		}
		ids[pan.ID] = true
		if pan.GridPos == nil || pan.GridPos.W == 0 || pan.GridPos.H == 0 {
			t.Errorf("panel %q: no gridPos", pan.Title)
		}
		if pan.Type == "row" {
			continue
		}
		if pan.Title == "" || pan.Datasource == nil || !strings.Contains(string(*pan.Datasource), "${datasource}") {
			t.Errorf("panel %d %q: needs a title and the ${datasource} data source", pan.ID, pan.Title)
		}
		if len(pan.Targets) == 0 {
			t.Errorf("panel %q has no query", pan.Title)
		}
		for _, tg := range pan.Targets {
			expr, undefined := d.Expand(tg.Expr)
			if len(undefined) > 0 {
				t.Errorf("panel %q: undefined variables %v", pan.Title, undefined)
			}
			q, err := Analyze(p, expr)
			if err != nil {
				t.Errorf("panel %q %s: %v", pan.Title, tg.RefID, err)
				continue
			}
			queries++
			for _, e := range CheckQuery(l, q, used) {
				t.Errorf("panel %q: %v", pan.Title, e)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		qs, _ := v.Query.(map[string]any)
		s, _ := qs["query"].(string)
		inner := strings.TrimSuffix(strings.TrimPrefix(s, "label_values("), ")")
		if i := strings.LastIndex(inner, ","); i > 0 {
			sel, _ := d.Expand(inner[:i])
			if q, err := Analyze(p, sel); err != nil {
				t.Errorf("variable %s: %v", v.Name, err)
			} else {
				report(t, CheckQuery(l, q, map[string]bool{}))
			}
		}
	}
	for n := range l.Families {
		if !strings.HasPrefix(n, "closesink_") || strings.HasPrefix(n, "closesink_kafka") {
			continue
		}
		if _, hist := l.Series(n); !used[n] && !(!hist && used[n+"_bucket"]) {
			t.Errorf("closesink metric %s has no panel", n)
		}
	}
	t.Logf("%d panels, %d queries", len(ids), queries)
}

// The checks themselves catch mistakes: each case breaks one thing and
// expects an error, so the tests above cannot pass by checking nothing.
func TestChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	t.Run("unknown field", func(t *testing.T) {
		_, err := DecodeStrict([]byte("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec:\n  replica: 3\n"))
		if err == nil || !strings.Contains(err.Error(), "replica") {
			t.Errorf("unknown field: %v", err)
		}
	})
	t.Run("wrong case", func(t *testing.T) {
		_, err := DecodeStrict([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ClusterIP: None\n"))
		if err == nil {
			t.Error("a field in the wrong case decoded")
		}
	})
	t.Run("duplicate key", func(t *testing.T) {
		_, err := DecodeStrict([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nmetadata: {name: y}\n"))
		if err == nil {
			t.Error("a duplicate key decoded")
		}
	})
	t.Run("keda unknown field", func(t *testing.T) {
		_, err := DecodeStrict([]byte("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec:\n  scaleTargetRef: {name: x}\n  maxReplicas: 3\n  triggers: []\n"))
		if err == nil {
			t.Error("an unknown ScaledObject field decoded")
		}
	})

	l := must(t, live)
	p := NewParser()
	for _, expr := range []string{
		`rate(closesink_records_consumed[5m])`,                    // misspelt
		`closesink_delivery_seconds > 1`,                          // a histogram's bare name
		`closesink_records_outcome_total{outcome="deadlettered"}`, // a value that never occurs
		`sum by (reson) (closesink_records_outcome_total)`,        // a label that does not exist
		`closesink_close_requests_total{code="401"}`,              // ditto, as a matcher
		`kafka_consumergroup_lag > 0`,                             // an exporter not declared
	} {
		q, err := Analyze(p, expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if errs := CheckQuery(l, q, map[string]bool{}); len(errs) == 0 {
			t.Errorf("%s: accepted", expr)
		}
	}

	if q, err := Analyze(p, `sum by (namespace) (closesink_assigned_partitions) > 0`); err != nil || outputHasLabel(q, "pod") || !outputHasLabel(q, "namespace") {
		t.Errorf("outputHasLabel: a label aggregated away is not caught (%v)", err)
	}

	w := must(t, workload)
	// mutate breaks the StatefulSet with f and expects an error saying want.
	mutate := func(name, want string, f func(s *appsv1.StatefulSet)) {
		t.Run(name, func(t *testing.T) {
			b := *w.Bundle
			set := w.Set.DeepCopy()
			f(set)
			b.StatefulSets = []*appsv1.StatefulSet{set}
			w2, err := LoadWorkload(&b, t.TempDir())
			if err == nil {
				err = errors.Join(CheckWorkload(w2)...)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("want an error about %q, got: %v", want, err)
			}
		})
	}
	c0 := func(s *appsv1.StatefulSet) *[]string { return &s.Spec.Template.Spec.Containers[0].Args }
	mutate("unknown flag", "unknown flag: --metric-addr", func(s *appsv1.StatefulSet) { *c0(s) = append(*c0(s), "--metric-addr", ":9090") })
	mutate("no run", "subcommand \"run\"", func(s *appsv1.StatefulSet) { (*c0(s))[0] = "serve" })
	mutate("short grace", "terminationGracePeriodSeconds", func(s *appsv1.StatefulSet) { g := int64(40); s.Spec.Template.Spec.TerminationGracePeriodSeconds = &g })
	mutate("no readiness", "no readiness probe", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].ReadinessProbe = nil })
	mutate("readiness on healthz", "readiness probe path", func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path = "/healthz"
	})
	mutate("probe on another port", "liveness probe port", func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Port = intstr.FromInt32(8080)
	})
	mutate("key as a literal", "CLOSE_API_KEY must come from a Secret", func(s *appsv1.StatefulSet) {
		c := &s.Spec.Template.Spec.Containers[0]
		for i := range c.Env {
			if c.Env[i].Name == "CLOSE_API_KEY" {
				c.Env[i].ValueFrom, c.Env[i].Value = nil, "api_literal"
			}
		}
	})
	mutate("instance id fixed", "downward API", func(s *appsv1.StatefulSet) {
		c := &s.Spec.Template.Spec.Containers[0]
		for i := range c.Env {
			if c.Env[i].Name == "CLOSESINK_INSTANCE_ID" {
				c.Env[i].ValueFrom, c.Env[i].Value = nil, "closesink"
			}
		}
	})
	mutate("misspelt env", "CLOSESINK_INSTANCEID is read by nothing", func(s *appsv1.StatefulSet) {
		c := &s.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, c.Env[0])
		c.Env[len(c.Env)-1].Name = "CLOSESINK_INSTANCEID"
	})
	mutate("root", "runAsNonRoot", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil })
	mutate("writable root fs", "readOnlyRootFilesystem", func(s *appsv1.StatefulSet) {
		f := false
		s.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
	})
	mutate("caps kept", "drop ALL", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities = nil })
	mutate("GOMEMLIMIT over the limit", "GOMEMLIMIT", func(s *appsv1.StatefulSet) {
		c := &s.Spec.Template.Spec.Containers[0]
		for i := range c.Env {
			if c.Env[i].Name == "GOMEMLIMIT" {
				c.Env[i].Value = "4GiB"
			}
		}
	})
	mutate("wrong config path", "--config /etc/closesink/config.yaml", func(s *appsv1.StatefulSet) { (*c0(s))[2] = "/etc/closesink/config.yaml" })
	mutate("not the headless service", "serviceName", func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "closesink-metrics" })
	mutate("selector mismatch", "selector does not match", func(s *appsv1.StatefulSet) {
		s.Spec.Template.Labels = map[string]string{"app.kubernetes.io/name": "other"}
	})
}
