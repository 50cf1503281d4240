package validate

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/internal/config"
)

// The names the manifests are expected to use.
const (
	AppName       = "closesink"
	ContainerName = "closesink"
	// APIKeySecretKey is the Secret key and the env variable of the Close key.
	APIKeySecretKey = config.EnvAPIKey
	// Probe paths on the metrics port (internal/service/observe.go).
	LivenessPath  = "/healthz"
	ReadinessPath = "/readyz"
)

// Go runtime variables a container may set besides closesink's own.
var goRuntimeEnv = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG"}

// Workload is the StatefulSet with what it refers to, and the closesink
// configuration its pods would load.
type Workload struct {
	Bundle      *Bundle
	Set         *appsv1.StatefulSet
	Container   corev1.Container
	Service     *corev1.Service // the governing, headless Service
	ConfigMap   *corev1.ConfigMap
	ConfigKey   string            // key of closesink.yaml in ConfigMap
	Env         map[string]string // as the pod would see it (see PodEnv)
	Args        []string          // after "run"
	Config      config.Config     // loaded and validated like `closesink run`
	MetricsPort int32
}

// PodName is the pod name the checks resolve the downward API to.
func PodName(set *appsv1.StatefulSet) string { return set.Name + "-0" }

// TestAPIKey stands in for the Secret's value, which is empty in git.
const TestAPIKey = "api_validate_deploy_key"

// LoadWorkload finds the closesink StatefulSet in b, resolves its env
// (downward API, Secret, literal values), writes the ConfigMap's file to
// tmp and loads the configuration exactly as `closesink run` does
// (config.Register, config.Load, Validate). Every problem found on the way
// is returned; w is usable when err is nil.
func LoadWorkload(b *Bundle, tmp string) (*Workload, error) {
	if len(b.StatefulSets) != 1 {
		return nil, fmt.Errorf("want exactly one StatefulSet, have %d", len(b.StatefulSets))
	}
	w := &Workload{Bundle: b, Set: b.StatefulSets[0]}
	if i := slices.IndexFunc(b.Services, func(s *corev1.Service) bool { return s.Name == w.Set.Spec.ServiceName }); i >= 0 {
		w.Service = b.Services[i]
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	spec := w.Set.Spec.Template.Spec
	i := slices.IndexFunc(spec.Containers, func(c corev1.Container) bool { return c.Name == ContainerName })
	if i < 0 {
		return nil, fmt.Errorf("StatefulSet %s: no container %q", w.Set.Name, ContainerName)
	}
	w.Container = spec.Containers[i]
	c := w.Container
	if len(c.Command) != 0 {
		fail("container %s: command is set (%v): the image's entrypoint is /closesink; give the subcommand in args", c.Name, c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "run" {
		return nil, errors.Join(append(errs, fmt.Errorf("container %s: args must start with the subcommand \"run\", have %q", c.Name, c.Args))...)
	}
	w.Args = c.Args[1:]

	// Env as the pod sees it.
	w.Env = map[string]string{}
	for _, e := range c.Env {
		if _, dup := w.Env[e.Name]; dup {
			fail("env %s is set twice", e.Name)
		}
		v, err := resolveEnv(b, w.Set, e)
		if err != nil {
			fail("env %s: %v", e.Name, err)
			continue
		}
		w.Env[e.Name] = v
	}
	if len(c.EnvFrom) != 0 {
		fail("container %s: envFrom is not used by these checks; list each variable in env", c.Name)
	}

	// The flags, as `closesink run` declares them.
	fs := pflag.NewFlagSet("closesink run", pflag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	defaults := config.Defaults()
	config.Register(fs, &defaults)
	if err := fs.Parse(w.Args); err != nil {
		fail("args %q: %v", w.Args, err)
	}
	if fs.NArg() != 0 {
		fail("args: `closesink run` takes no positional arguments, have %q", fs.Args())
	}
	for name := range w.Env {
		if !knownEnv(fs, name) {
			fail("env %s is read by nothing: not %s, %s, a Go runtime variable nor CLOSESINK_<FLAG> of a flag of `closesink run`",
				name, config.EnvAPIKey, config.EnvSASLPassword)
		}
	}

	// The config file: --config must name the ConfigMap's key where the
	// volume mounts it.
	cfgPath, _ := fs.GetString("config")
	if cfgPath == "" {
		cfgPath = w.Env[config.EnvName("config")]
	}
	if cfgPath == "" {
		fail("no --config: the ConfigMap is not read")
	} else {
		cm, key, err := mountedConfigMap(b, w.Set, c, cfgPath)
		if err != nil {
			fail("--config %s: %v", cfgPath, err)
		} else {
			w.ConfigMap, w.ConfigKey = cm, key
			local := filepath.Join(tmp, key)
			if err := os.WriteFile(local, []byte(cm.Data[key]), 0o600); err != nil {
				return nil, err
			}
			if fs.Lookup("config").Changed {
				_ = fs.Set("config", local)
			}
			if _, ok := w.Env[config.EnvName("config")]; ok {
				w.Env[config.EnvName("config")] = local
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	cfg, err := config.Load(fs, func(k string) string { return w.Env[k] })
	if err != nil {
		return nil, fmt.Errorf("closesink would not start: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("closesink would not start: %w", err)
	}
	w.Config = cfg
	return w, nil
}

func knownEnv(fs *pflag.FlagSet, name string) bool {
	if name == config.EnvAPIKey || name == config.EnvSASLPassword || slices.Contains(goRuntimeEnv, name) {
		return true
	}
	found := false
	fs.VisitAll(func(f *pflag.Flag) { found = found || config.EnvName(f.Name) == name })
	return found
}

// resolveEnv gives an env var's value as the pod would see it: the pod
// name for metadata.name, TestAPIKey for the Close key's Secret (whose
// committed value is empty), a literal value as is.
func resolveEnv(b *Bundle, set *appsv1.StatefulSet, e corev1.EnvVar) (string, error) {
	if e.ValueFrom == nil {
		if strings.Contains(e.Value, "$(") {
			return "", fmt.Errorf("dependent variable references are not used here")
		}
		return e.Value, nil
	}
	if e.Value != "" {
		return "", fmt.Errorf("both value and valueFrom")
	}
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		switch vf.FieldRef.FieldPath {
		case "metadata.name":
			return PodName(set), nil
		case "metadata.namespace":
			return "default", nil
		}
		return "", fmt.Errorf("fieldRef %s not supported by these checks", vf.FieldRef.FieldPath)
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		i := slices.IndexFunc(b.Secrets, func(s *corev1.Secret) bool { return s.Name == ref.Name })
		if i < 0 {
			return "", fmt.Errorf("Secret %s is not among the manifests", ref.Name)
		}
		s := b.Secrets[i]
		_, inString := s.StringData[ref.Key]
		_, inData := s.Data[ref.Key]
		if !inString && !inData {
			return "", fmt.Errorf("Secret %s has no key %s", ref.Name, ref.Key)
		}
		if e.Name == config.EnvAPIKey {
			return TestAPIKey, nil
		}
		if inData {
			return string(s.Data[ref.Key]), nil
		}
		return s.StringData[ref.Key], nil
	}
	return "", fmt.Errorf("valueFrom kind not supported by these checks")
}

// mountedConfigMap finds the ConfigMap volume mounted where file lives and
// the key that file is.
func mountedConfigMap(b *Bundle, set *appsv1.StatefulSet, c corev1.Container, file string) (*corev1.ConfigMap, string, error) {
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/")
		if path.Dir(file) != dir || m.SubPath != "" {
			continue
		}
		key := path.Base(file)
		vi := slices.IndexFunc(set.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if vi < 0 {
			return nil, "", fmt.Errorf("volumeMount %s has no volume", m.Name)
		}
		v := set.Spec.Template.Spec.Volumes[vi]
		if v.ConfigMap == nil {
			return nil, "", fmt.Errorf("volume %s is not a ConfigMap", v.Name)
		}
		for _, it := range v.ConfigMap.Items {
			if it.Path == key {
				key = it.Key
			}
		}
		ci := slices.IndexFunc(b.ConfigMaps, func(cm *corev1.ConfigMap) bool { return cm.Name == v.ConfigMap.Name })
		if ci < 0 {
			return nil, "", fmt.Errorf("ConfigMap %s is not among the manifests", v.ConfigMap.Name)
		}
		cm := b.ConfigMaps[ci]
		if _, ok := cm.Data[key]; !ok {
			return nil, "", fmt.Errorf("ConfigMap %s has no key %s", cm.Name, key)
		}
		if !m.ReadOnly {
			return nil, "", fmt.Errorf("volumeMount %s should be readOnly", m.Name)
		}
		return cm, key, nil
	}
	return nil, "", fmt.Errorf("no volumeMount of %s in container %s", path.Dir(file), c.Name)
}

// CheckWorkload checks the StatefulSet against the configuration it loads
// and against the objects around it; it returns every problem.
func CheckWorkload(w *Workload) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	set, spec, c, cfg := w.Set, w.Set.Spec.Template.Spec, w.Container, w.Config

	// Static membership from the pod name.
	if e := envVar(c, config.EnvName("instance-id")); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		fail("%s must come from the downward API (fieldRef metadata.name): the pod name is the stable instance id", config.EnvName("instance-id"))
	}
	if cfg.InstanceID != PodName(set) {
		fail("instance id is %q, want the pod name %q (a flag or the file must not override the env)", cfg.InstanceID, PodName(set))
	}

	// The key: from a Secret, in env only.
	if e := envVar(c, config.EnvAPIKey); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		fail("%s must come from a Secret (secretKeyRef)", config.EnvAPIKey)
	}
	for _, a := range c.Args {
		if strings.Contains(strings.ToLower(a), "api-key") && !strings.HasPrefix(a, "--api-key-file") {
			fail("arg %q: the Close key is never a flag", a)
		}
	}
	if w.ConfigMap != nil && strings.Contains(w.ConfigMap.Data[w.ConfigKey], "api_key:") {
		fail("ConfigMap %s: the key is never in the file", w.ConfigMap.Name)
	}

	// Metrics port: the config's metrics_addr, the container port, probes.
	if cfg.MetricsAddr == "" {
		fail("metrics_addr is not set: no /metrics, /healthz, /readyz")
	} else if _, p, err := net.SplitHostPort(cfg.MetricsAddr); err != nil {
		fail("metrics_addr %q: %v", cfg.MetricsAddr, err)
	} else if n, err := strconv.Atoi(p); err != nil {
		fail("metrics_addr %q: port %v", cfg.MetricsAddr, err)
	} else {
		w.MetricsPort = int32(n)
	}
	var metricsPort *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "metrics" {
			metricsPort = &c.Ports[i]
		}
	}
	if metricsPort == nil {
		fail("container %s has no port named metrics", c.Name)
	} else if metricsPort.ContainerPort != w.MetricsPort {
		fail("container port metrics is %d, metrics_addr %q listens on %d", metricsPort.ContainerPort, cfg.MetricsAddr, w.MetricsPort)
	}
	checkProbe := func(kind string, p *corev1.Probe, wantPath string) {
		if p == nil {
			fail("no %s probe", kind)
			return
		}
		if p.HTTPGet == nil {
			fail("%s probe: want httpGet %s", kind, wantPath)
			return
		}
		if p.HTTPGet.Path != wantPath {
			fail("%s probe path %q, want %q", kind, p.HTTPGet.Path, wantPath)
		}
		if port := resolvePort(c, p.HTTPGet.Port); port != w.MetricsPort {
			fail("%s probe port %s is %d, not the metrics port %d", kind, p.HTTPGet.Port.String(), port, w.MetricsPort)
		}
	}
	checkProbe("liveness", c.LivenessProbe, LivenessPath)
	checkProbe("readiness", c.ReadinessProbe, ReadinessPath)
	if c.StartupProbe != nil {
		checkProbe("startup", c.StartupProbe, LivenessPath)
	}

	// Graceful stop: in-flight requests, then the final commit.
	need := cfg.ShutdownTimeout + consumer.DefaultCommitTimeout
	if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= need {
		fail("terminationGracePeriodSeconds %v must exceed shutdown_timeout (%s) + the %s commit timeout", deref(g), cfg.ShutdownTimeout, consumer.DefaultCommitTimeout)
	}

	// Resources.
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := req[r]; !ok {
			fail("no %s request", r)
		}
	}
	memLim, hasLim := lim[corev1.ResourceMemory]
	if !hasLim {
		fail("no memory limit")
	} else if memReq, ok := req[corev1.ResourceMemory]; ok && memReq.Cmp(memLim) > 0 {
		fail("memory request %s above the limit %s", memReq.String(), memLim.String())
	}
	if v, ok := w.Env["GOMEMLIMIT"]; ok && hasLim {
		n, err := parseGoMemLimit(v)
		switch {
		case err != nil:
			fail("GOMEMLIMIT %q: %v", v, err)
		case n >= memLim.Value():
			fail("GOMEMLIMIT %s (%d bytes) must be below the memory limit %s", v, n, memLim.String())
		}
	}

	// Security.
	psc, sc := spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		fail("pod securityContext.runAsNonRoot must be true")
	}
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		fail("pod securityContext.runAsUser is 0")
	}
	if sc == nil {
		fail("container %s has no securityContext", c.Name)
	} else {
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			fail("allowPrivilegeEscalation must be false")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			fail("readOnlyRootFilesystem must be true")
		}
		if sc.Privileged != nil && *sc.Privileged {
			fail("privileged must not be true")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			fail("container runAsUser is 0")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			fail("capabilities must drop ALL")
		} else if len(sc.Capabilities.Add) > 0 {
			fail("capabilities add %v", sc.Capabilities.Add)
		}
	}

	// Selectors and references.
	podLabels := labels.Set(set.Spec.Template.Labels)
	if set.Spec.Selector == nil || !labels.SelectorFromSet(set.Spec.Selector.MatchLabels).Matches(podLabels) || len(set.Spec.Selector.MatchExpressions) > 0 {
		fail("StatefulSet selector does not match its pod template's labels")
	}
	if w.Service == nil {
		fail("serviceName %q: no such Service", set.Spec.ServiceName)
	} else {
		if w.Service.Spec.ClusterIP != corev1.ClusterIPNone {
			fail("Service %s must be headless (clusterIP: None) to govern the StatefulSet", w.Service.Name)
		}
		if !w.Service.Spec.PublishNotReadyAddresses {
			fail("Service %s: publishNotReadyAddresses must be true, so a not-ready pod is still scraped", w.Service.Name)
		}
	}
	for _, s := range w.Bundle.Services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			fail("Service %s does not select the closesink pods", s.Name)
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port) // unset: the same number as port
			}
			if resolvePort(c, target) == 0 {
				fail("Service %s port %s: targetPort %s is not a container port", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	if len(w.Bundle.PDBs) == 0 {
		fail("no PodDisruptionBudget")
	}
	for _, p := range w.Bundle.PDBs {
		if p.Spec.Selector == nil || !labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(podLabels) {
			fail("PodDisruptionBudget %s does not select the closesink pods", p.Name)
		}
		if p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
			fail("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", p.Name)
		}
	}
	if n := spec.ServiceAccountName; n != "" && !slices.ContainsFunc(w.Bundle.ServiceAccounts, func(s *corev1.ServiceAccount) bool { return s.Name == n }) {
		fail("serviceAccountName %s: no such ServiceAccount", n)
	}
	for _, m := range w.Bundle.ServiceMonitors {
		matched := false
		for _, s := range w.Bundle.Services {
			if labels.SelectorFromSet(m.Spec.Selector.MatchLabels).Matches(labels.Set(s.Labels)) {
				matched = true
				for _, ep := range m.Spec.Endpoints {
					if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
						fail("ServiceMonitor %s: Service %s has no port %q", m.Name, s.Name, ep.Port)
					}
					if ep.Path != "" && ep.Path != "/metrics" {
						fail("ServiceMonitor %s: path %q, closesink serves /metrics", m.Name, ep.Path)
					}
				}
			}
		}
		if !matched {
			fail("ServiceMonitor %s selects no Service", m.Name)
		}
	}
	return errs
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// resolvePort gives the number of a named or numbered container port (0:
// no such port).
func resolvePort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

func deref(p *int64) any {
	if p == nil {
		return "(unset)"
	}
	return *p
}

// parseGoMemLimit parses GOMEMLIMIT as the Go runtime does: a number of
// bytes with an optional B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil {
				return 0, err
			}
			return n * u.mult, nil
		}
	}
	if _, err := resource.ParseQuantity(s); err == nil && strings.ContainsAny(s, "KMGTkmgti") {
		return 0, fmt.Errorf("use the Go runtime's units (B, KiB, MiB, GiB), not Kubernetes quantities")
	}
	return strconv.ParseInt(s, 10, 64)
}
