// Package validate checks the deployment files under deploy/kubernetes,
// deploy/prometheus and deploy/grafana, offline (`make validate-deploy`).
// It is a Go module of its own so that the Kubernetes API types, kustomize
// and Prometheus' parsers never enter closesink's go.mod; it reaches
// closesink's internal packages through a replace of the main module.
//
// What the tests establish:
//   - every manifest decodes strictly (unknown, duplicate or mis-cased
//     fields are errors) into the Kubernetes, Prometheus Operator or KEDA
//     Go types, and the kustomization renders with kustomize's library;
//   - the StatefulSet's args, env and ConfigMap load and validate as
//     `closesink run` loads them, and agree with the probes, ports, grace
//     period, resources, security context and the objects around them;
//   - the alert rules parse with Prometheus' rule parser and every metric,
//     label and label value that an alert or a dashboard panel uses exists
//     in the /metrics of the real service (internal/service.Run) run with
//     the manifests' configuration on an in-process Kafka (kfake) and the
//     Close emulator.
package validate
