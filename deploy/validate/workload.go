package validate

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

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
