// Package deploy holds no code: its tests check the deployment files at the
// repository root (docker-compose.yml, Dockerfile) for internal consistency,
// and, where a Docker engine and the locally built images are at hand
// (scripts/ci-docker.sh, make test-docker), run them for real: the closesink
// image (image_test.go) and the compose stack (compose_run_test.go). Without
// Docker those tests skip.
package deploy
