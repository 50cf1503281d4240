package validate

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/closesink/closesink/consumer"
	"github.com/closesink/closesink/internal/config"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

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
