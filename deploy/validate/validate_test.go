package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
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
