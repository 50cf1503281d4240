package validate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Shared, computed once: the rendered base, its workload and the metrics
// of a live run.
var (
	tmpRoot string

	rendered = sync.OnceValues(func() (*Bundle, error) { return KustomizeBuild(KubernetesDir) })

	workload = sync.OnceValues(func() (*Workload, error) {
		b, err := rendered()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp(tmpRoot, "base")
		if err != nil {
			return nil, err
		}
		return LoadWorkload(b, dir)
	})

	partitions = sync.OnceValues(func() (int, error) { return SourcePartitions("../../README.md") })

	live = sync.OnceValues(func() (*Live, error) {
		w, err := workload()
		if err != nil {
			return nil, err
		}
		n, err := partitions()
		if err != nil {
			return nil, err
		}
		return RunLive(w.Config, n, 90*time.Second)
	})
)

func TestMain(m *testing.M) {
	var err error
	tmpRoot, err = os.MkdirTemp("", "closesink-validate-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(tmpRoot)
	os.Exit(code)
}

func must[T any](t *testing.T, f func() (T, error)) T {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func report(t *testing.T, errs []error) {
	t.Helper()
	for _, e := range errs {
		t.Error(e)
	}
}

// Every manifest file, as committed, decodes strictly into its Kubernetes
// (or Prometheus Operator, or KEDA) Go type, and every one is reachable
// from a kustomization, so nothing is left out of `kubectl apply -k`.
func TestManifestFilesDecodeStrictly(t *testing.T) {
	t.Parallel()
	var all []string
	var kusts []string
	for _, dir := range []string{KubernetesDir, PrometheusDir} {
		files, ks, err := ManifestFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		all, kusts = append(all, files...), append(kusts, ks...)
	}
	if len(all) < 9 {
		t.Fatalf("only %d manifest files found: %v", len(all), all)
	}
	for _, f := range all {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := DecodeAll(f, data)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(b.Objects) != 1 {
			t.Errorf("%s: %d objects, want one per file", f, len(b.Objects))
		}
	}
	// Each file is listed as a resource by the kustomization beside it.
	for _, k := range kusts {
		data, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range all {
			if filepath.Dir(f) == filepath.Dir(k) && !strings.Contains(string(data), "- "+filepath.Base(f)+"\n") {
				t.Errorf("%s is not listed in %s", f, k)
			}
		}
	}
}

// The kustomization renders (kustomize's own library, offline) into
// strictly valid objects: the expected set, each once.
func TestKustomizationRenders(t *testing.T) {
	t.Parallel()
	b := must(t, rendered)
	var got []string
	for _, o := range b.Objects {
		got = append(got, o.Kind+" "+o.Name)
	}
	slices.Sort(got)
	want := []string{
		"apps/v1/StatefulSet closesink",
		"monitoring.coreos.com/v1/PrometheusRule closesink",
		"monitoring.coreos.com/v1/ServiceMonitor closesink",
		"policy/v1/PodDisruptionBudget closesink",
		"v1/ConfigMap closesink-config",
		"v1/Secret closesink-close-api-key",
		"v1/Service closesink",
		"v1/ServiceAccount closesink",
	}
	if !slices.Equal(got, want) {
		t.Errorf("kustomize build %s:\n got %q\nwant %q", KubernetesDir, got, want)
	}
	for _, o := range b.Objects {
		if strings.HasPrefix(o.Kind, "keda.sh/") {
			t.Errorf("%s is in the base: KEDA must stay optional (the keda component)", o.Kind)
		}
	}
}

// The StatefulSet's flags, env and ConfigMap load and validate as
// `closesink run` would load them, and agree with the probes, ports,
// grace period, resources, security context and the objects around it.
func TestStatefulSet(t *testing.T) {
	t.Parallel()
	w := must(t, workload)
	report(t, CheckWorkload(w))
	t.Logf("config: brokers %v topic %s group %s instance %s metrics %s shutdown %s grace %ds",
		w.Config.Brokers, w.Config.Topic, w.Config.Group, w.Config.InstanceID, w.Config.MetricsAddr,
		w.Config.ShutdownTimeout, *w.Set.Spec.Template.Spec.TerminationGracePeriodSeconds)
}

// The keda component: with it, the ScaledObject targets the StatefulSet,
// stays within the partition count and reads the same group and topic.
func TestKEDAComponent(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp(tmpRoot, "keda")
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := KEDAOverlay(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := KustomizeBuild(overlay)
	if err != nil {
		t.Fatal(err)
	}
	w, err := LoadWorkload(b, dir)
	if err != nil {
		t.Fatal(err)
	}
	report(t, CheckWorkload(w))
	report(t, CheckScaledObject(w, must(t, partitions)))
}

// The probes' paths answer 200 on the running service, and /metrics has
// the series the alerts and the dashboard are checked against.
func TestLiveService(t *testing.T) {
	t.Parallel()
	l := must(t, live)
	for p, st := range l.Probes {
		if st != 200 {
			t.Errorf("GET %s on the metrics port: %d, want 200 once joined and idle", p, st)
		}
	}
	var names []string
	for n := range l.Families {
		if strings.HasPrefix(n, "closesink_") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	t.Logf("%d sample records finished; /metrics has %d families, closesink_*: %s", l.Records, len(l.Families), strings.Join(names, " "))
}

// Every alert parses with Prometheus' rule parser, uses only metrics that
// closesink serves (or declared external ones) with labels and values
// that exist, and carries a severity and a summary.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	_, groups, err := LoadAlerts(AlertsFile)
	if err != nil {
		t.Fatal(err)
	}
	l := must(t, live)
	w := must(t, workload)
	p := NewParser()
	used := map[string]bool{}
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				t.Errorf("group %s: a recording rule %s; only alerts are expected", g.Name, r.Record)
				continue
			}
			if seen[name] {
				t.Errorf("alert %s twice", name)
			}
			seen[name] = true
			q, err := Analyze(p, r.Expr)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			for _, e := range CheckQuery(l, q, used) {
				t.Errorf("%s: %v", name, e)
			}
			for _, s := range q.Selectors {
				for _, m := range s.Matchers {
					if m.Name == "job" && (w.Service == nil || m.Value != w.Service.Name) {
						t.Errorf("%s: job=%q, but the ServiceMonitor's job label is the name of the StatefulSet's Service %q", name, m.Value, w.Set.Spec.ServiceName)
					}
				}
			}
			for _, ann := range r.Annotations {
				for _, m := range templateLabel.FindAllStringSubmatch(ann, -1) {
					if !outputHasLabel(q, m[1]) {
						t.Errorf("%s: an annotation uses $labels.%s, which the expression aggregates away", name, m[1])
					}
				}
			}
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", name, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs summary and description annotations", name)
			}
		}
	}
	// The list of conditions, each covered by a metric.
	for _, m := range []string{
		"closesink_records_outcome_total",   // DLQ growth, no progress, commits
		"closesink_kafka_fetch_bytes_total", // no progress (there is no lag metric)
		"closesink_close_requests_total",    // 401/403
		"closesink_offset_commits_total",    // commits stalling
		"closesink_dlq_write_errors_total",
		"kube_pod_status_ready", // not ready
	} {
		if !used[m] {
			t.Errorf("no alert uses %s", m)
		}
	}
	t.Logf("%d alerts, metrics used: %s", len(seen), keys(used))
}

var templateLabel = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)

// outputHasLabel: a label survives an expression that aggregates only if
// every aggregation keeps it (by); one without aggregation keeps them all.
func outputHasLabel(q Query, label string) bool {
	if len(q.Aggregations) == 0 {
		return true
	}
	for _, by := range q.Aggregations {
		if !slices.Contains(by, label) {
			return false
		}
	}
	return true
}

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
