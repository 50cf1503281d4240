package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// KEDAOverlay writes, under tmp, a copy of deploy/kubernetes and
// deploy/prometheus plus an overlay that enables the keda component (what
// a user does with `components: [keda]`), and returns the overlay's dir.
func KEDAOverlay(tmp string) (string, error) {
	for _, d := range []string{KubernetesDir, PrometheusDir} {
		if err := os.CopyFS(filepath.Join(tmp, filepath.Base(d)), os.DirFS(d)); err != nil {
			return "", err
		}
	}
	overlay := filepath.Join(tmp, "overlay")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		return "", err
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../kubernetes]\ncomponents: [../kubernetes/keda]\n"
	return overlay, os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o644)
}

// SourcePartitions reads the source topic's partition count that the
// README's instructions create (`--topic leads --partitions N`), the
// number the ScaledObject's maxReplicaCount must not exceed.
func SourcePartitions(readme string) (int, error) {
	b, err := os.ReadFile(readme)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`--create --topic leads\s+--partitions (\d+)`).FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("%s: no `--create --topic leads --partitions N`", readme)
	}
	return strconv.Atoi(string(m[1]))
}

// CheckScaledObject checks the KEDA ScaledObject against the workload it
// scales (w built from the same overlay) and the partition count.
func CheckScaledObject(w *Workload, partitions int) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(w.Bundle.ScaledObjects) != 1 {
		return []error{fmt.Errorf("want one ScaledObject, have %d", len(w.Bundle.ScaledObjects))}
	}
	so := w.Bundle.ScaledObjects[0]
	ref := so.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "StatefulSet" || ref.Name != w.Set.Name {
		fail("scaleTargetRef %s %s %s, want apps/v1 StatefulSet %s", ref.APIVersion, ref.Kind, ref.Name, w.Set.Name)
	}
	if w.Set.Spec.Replicas != nil {
		fail("with KEDA the StatefulSet must not set replicas (kubectl apply would fight the autoscaler)")
	}
	lo, hi := so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount
	switch {
	case lo == nil || *lo < 1:
		fail("minReplicaCount must be at least 1 (0 would scale the group away and stop committing)")
	case hi == nil:
		fail("maxReplicaCount must be set (KEDA's default is 100)")
	case int(*hi) > partitions:
		fail("maxReplicaCount %d exceeds the source topic's %d partitions: the extra replicas would own nothing", *hi, partitions)
	case *hi < *lo:
		fail("maxReplicaCount %d < minReplicaCount %d", *hi, *lo)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		return append(errs, fmt.Errorf("want one trigger of type kafka"))
	}
	md := so.Spec.Triggers[0].Metadata
	cfg := w.Config
	want := map[string]string{
		"bootstrapServers":   strings.Join(cfg.Brokers, ","),
		"consumerGroup":      cfg.Group,
		"topic":              cfg.Topic,
		"allowIdleConsumers": "false",
	}
	for k, v := range want {
		if md[k] != v {
			fail("kafka trigger %s = %q, want %q (the ConfigMap's setting)", k, md[k], v)
		}
	}
	known := map[string]bool{"bootstrapServers": true, "consumerGroup": true, "topic": true, "lagThreshold": true,
		"activationLagThreshold": true, "offsetResetPolicy": true, "allowIdleConsumers": true, "excludePersistentLag": true,
		"scaleToZeroOnInvalidOffset": true, "limitToPartitionsWithLag": true, "partitionLimitation": true, "version": true,
		"sasl": true, "tls": true, "unsafeSsl": true}
	for k, v := range md {
		if !known[k] {
			fail("kafka trigger: unknown metadata key %q", k)
		}
		if (k == "lagThreshold" || k == "activationLagThreshold") && !isPositiveInt(v) {
			fail("kafka trigger %s %q is not a positive integer", k, v)
		}
	}
	return errs
}

func isPositiveInt(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0
}
