package validate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// Paths of the files under test, relative to this package.
const (
	KubernetesDir = "../kubernetes"
	PrometheusDir = "../prometheus"
	KEDAComponent = "../kubernetes/keda"
	AlertsFile    = "../prometheus/alerts.yaml"
	DashboardFile = "../grafana/closesink.json"
)

// ScaledObject is the part of KEDA's keda.sh/v1alpha1 ScaledObject that
// these manifests may use, field for field as KEDA's Go types spell them
// (github.com/kedacore/keda/v2/apis/keda/v1alpha1), so that it decodes
// strictly: a field KEDA does not know, or one not listed here, is an
// error. KEDA's own module is not imported: it would bring all of KEDA's
// dependencies for one struct.
type ScaledObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       ScaledObjectSpec  `json:"spec"`
}

// ScaledObjectSpec is KEDA's ScaledObjectSpec.
type ScaledObjectSpec struct {
	ScaleTargetRef        ScaleTarget     `json:"scaleTargetRef"`
	PollingInterval       *int32          `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32          `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32          `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32          `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32          `json:"maxReplicaCount,omitempty"`
	Advanced              *Advanced       `json:"advanced,omitempty"`
	Triggers              []ScaleTrigger  `json:"triggers"`
	Fallback              *ScaledFallback `json:"fallback,omitempty"`
}

// ScaleTarget is KEDA's ScaleTarget.
type ScaleTarget struct {
	Name                   string `json:"name"`
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

// Advanced is KEDA's AdvancedConfig (without scalingModifiers).
type Advanced struct {
	HorizontalPodAutoscalerConfig *HPAConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool       `json:"restoreToOriginalReplicaCount,omitempty"`
}

// HPAConfig is KEDA's HorizontalPodAutoscalerConfig.
type HPAConfig struct {
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	Name     string                                         `json:"name,omitempty"`
}

// ScaleTrigger is KEDA's ScaleTriggers.
type ScaleTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AuthenticationRef *struct {
		Name string `json:"name"`
		Kind string `json:"kind,omitempty"`
	} `json:"authenticationRef,omitempty"`
	MetricType string `json:"metricType,omitempty"`
}

// ScaledFallback is KEDA's Fallback.
type ScaledFallback struct {
	FailureThreshold int32 `json:"failureThreshold"`
	Replicas         int32 `json:"replicas"`
}

// Object is one decoded manifest.
type Object struct {
	Source string // file, or "kustomize build <dir>"
	Kind   string // apiVersion/kind
	Name   string
	Value  any // *appsv1.StatefulSet, *corev1.Service, ...
}

// Bundle is a set of decoded manifests by kind.
type Bundle struct {
	Objects         []Object
	StatefulSets    []*appsv1.StatefulSet
	Services        []*corev1.Service
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	ServiceAccounts []*corev1.ServiceAccount
	PDBs            []*policyv1.PodDisruptionBudget
	ServiceMonitors []*monitoringv1.ServiceMonitor
	PrometheusRules []*monitoringv1.PrometheusRule
	ScaledObjects   []*ScaledObject
}

// newFor returns an empty value of the Go type for apiVersion/kind.
func newFor(kind string) (any, error) {
	switch kind {
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Secret":
		return &corev1.Secret{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, nil
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &monitoringv1.PrometheusRule{}, nil
	case "keda.sh/v1alpha1/ScaledObject":
		return &ScaledObject{}, nil
	}
	return nil, fmt.Errorf("%s: not a kind these manifests are expected to use", kind)
}

// DecodeStrict decodes one YAML document into the Go type of its kind the
// way the API server's strict field validation does (apimachinery's
// sigs.k8s.io/json): an unknown field, a field spelt in the wrong case or a
// duplicate key is an error.
func DecodeStrict(doc []byte) (Object, error) {
	j, err := sigsyaml.YAMLToJSONStrict(doc) // duplicate keys are errors
	if err != nil {
		return Object{}, err
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &head); err != nil {
		return Object{}, err
	}
	kind := head.APIVersion + "/" + head.Kind
	v, err := newFor(kind)
	if err != nil {
		return Object{}, err
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowUnknownFields)
	if err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", kind, head.Metadata.Name, err)
	}
	if len(strict) > 0 {
		return Object{}, fmt.Errorf("%s %s: %w", kind, head.Metadata.Name, errors.Join(strict...))
	}
	if head.Metadata.Name == "" {
		return Object{}, fmt.Errorf("%s: metadata.name is empty", kind)
	}
	return Object{Kind: kind, Name: head.Metadata.Name, Value: v}, nil
}

// SplitYAML returns the documents of a YAML stream, each re-encoded on its
// own (comments kept); empty documents are skipped.
func SplitYAML(data []byte) ([][]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs [][]byte
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 {
			continue
		}
		b, err := yaml.Marshal(&n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, b)
	}
}

// Add files o in the bundle by kind.
func (b *Bundle) Add(o Object) {
	b.Objects = append(b.Objects, o)
	switch v := o.Value.(type) {
	case *appsv1.StatefulSet:
		b.StatefulSets = append(b.StatefulSets, v)
	case *corev1.Service:
		b.Services = append(b.Services, v)
	case *corev1.ConfigMap:
		b.ConfigMaps = append(b.ConfigMaps, v)
	case *corev1.Secret:
		b.Secrets = append(b.Secrets, v)
	case *corev1.ServiceAccount:
		b.ServiceAccounts = append(b.ServiceAccounts, v)
	case *policyv1.PodDisruptionBudget:
		b.PDBs = append(b.PDBs, v)
	case *monitoringv1.ServiceMonitor:
		b.ServiceMonitors = append(b.ServiceMonitors, v)
	case *monitoringv1.PrometheusRule:
		b.PrometheusRules = append(b.PrometheusRules, v)
	case *ScaledObject:
		b.ScaledObjects = append(b.ScaledObjects, v)
	}
}

// DecodeAll decodes every document of a YAML stream into a bundle.
func DecodeAll(source string, data []byte) (*Bundle, error) {
	docs, err := SplitYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	b := &Bundle{}
	var errs []error
	for _, d := range docs {
		o, err := DecodeStrict(d)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
			continue
		}
		o.Source = source
		b.Add(o)
	}
	return b, errors.Join(errs...)
}

// KustomizeBuild renders a kustomization directory in-process with
// kustomize's own library (what `kubectl apply -k` runs), from the local
// disk only, and decodes every resulting object strictly.
func KustomizeBuild(dir string) (*Bundle, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	return DecodeAll("kustomize build "+dir, out)
}

// ManifestFiles lists the YAML files under dir, kustomization files apart.
func ManifestFiles(dir string) (manifests, kustomizations []string, err error) {
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch {
		case d.Name() == "kustomization.yaml" || d.Name() == "kustomization.yml":
			kustomizations = append(kustomizations, p)
		case strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml"):
			manifests = append(manifests, p)
		}
		return nil
	})
	return manifests, kustomizations, err
}
