package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// loopbackPorts publishes every exposed port on 127.0.0.1 only (Docker's
// default is every interface of the host).
func loopbackPorts(ports ...string) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		for _, p := range ports {
			port := network.MustParsePort(p)
			hc.PortBindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
		}
	}
}

// runProjectContainer starts the project's broker image as a single KRaft
// node: the client listener is published on a random 127.0.0.1 port and
// advertised as such (written into the container once the port is known);
// brokers and controller talk over in-container listeners. The container
// stops and removes itself when this process's attachment to its standard
// input goes away (start-kafka.sh's STOP_ON_STDIN_EOF, Docker's StdinOnce,
// AutoRemove), which is what removes it after the last test, or after a
// crash or a kill, without a reaper.
func runProjectContainer(img image) (*Backend, net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	defer cancel()
	var lease net.Conn
	req := testcontainers.ContainerRequest{
		Image:        img.name,
		ExposedPorts: []string{clientPort},
		Env: map[string]string{
			"KAFKA_LISTENERS":                      fmt.Sprintf("PLAINTEXT://:9092,INTERNAL://:%d,CONTROLLER://:9093", internalPort),
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"KAFKA_INTER_BROKER_LISTENER_NAME":     "INTERNAL",
			"KAFKA_ADVERTISED_LISTENERS_FILE":      advertisedFile,
			"STOP_ON_STDIN_EOF":                    "true",
		},
		Labels: map[string]string{LabelContainer: "broker"},
		ConfigModifier: func(c *container.Config) {
			c.OpenStdin, c.StdinOnce, c.AttachStdin = true, true, true
		},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.AutoRemove = true
			loopbackPorts(clientPort)(hc)
		},
		LifecycleHooks: []testcontainers.ContainerLifecycleHooks{{
			PostCreates: []testcontainers.ContainerHook{func(ctx context.Context, c testcontainers.Container) error {
				conn, err := leaseStdin(ctx, c.GetContainerID())
				lease = conn
				return err
			}},
			PostStarts: []testcontainers.ContainerHook{func(ctx context.Context, c testcontainers.Container) error {
				port, err := c.MappedPort(ctx, clientPort)
				if err != nil {
					return err
				}
				inspect, err := c.Inspect(ctx)
				if err != nil {
					return err
				}
				listeners := fmt.Sprintf("PLAINTEXT://127.0.0.1:%s,INTERNAL://%s:%d", port.Port(), inspect.Config.Hostname, internalPort)
				return c.CopyToContainer(ctx, []byte(listeners+"\n"), advertisedFile, 0o644)
			}},
		}},
		WaitingFor: wait.ForLog("Kafka Server started").WithStartupTimeout(containerStartTimeout),
	}
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	if err != nil {
		// Closing the lease stops and removes a container that was created.
		if lease != nil {
			_ = lease.Close()
		}
		return nil, nil, fmt.Errorf("start %s: %w%s", img.name, err, ryukHint(err))
	}
	port, err := ctr.MappedPort(ctx, clientPort)
	if err != nil {
		_ = lease.Close()
		return nil, nil, fmt.Errorf("broker port of %s: %w", img.name, err)
	}
	b := &Backend{Name: NameTestcontainers, Brokers: []string{"127.0.0.1:" + port.Port()}}
	if err := ping(b.Brokers); err != nil {
		_ = lease.Close()
		return nil, nil, fmt.Errorf("broker in %s does not answer on %s: %w", img.name, b.Brokers[0], err)
	}
	if err := warmCoordinators(ctx, b.Brokers); err != nil {
		_ = lease.Close()
		return nil, nil, fmt.Errorf("broker in %s: %w", img.name, err)
	}
	return b, lease, nil
}

// warmCoordinators makes a fresh broker create and load its internal
// topics (consumer offsets, transaction state) before any test runs: the
// first group or transactional request on a new broker otherwise answers
// COORDINATOR_NOT_AVAILABLE for a few seconds, which a broker that has been
// up for a while (CI's) never does. It returns once a group's offsets can be
// fetched and a transaction coordinator is found.
func warmCoordinators(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		err := adm.FindTxnCoordinators(ctx, "kafkatest-warmup").Error()
		if err == nil {
			_, err = adm.FetchOffsets(ctx, "kafkatest-warmup")
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("coordinators not ready: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// leaseStdin attaches to a created container's standard input and returns
// the connection. The caller keeps it open for as long as the container
// should live: when it closes (Close, or the process ends), Docker closes
// the container's stdin (StdinOnce) and start-kafka.sh stops the broker.
func leaseStdin(ctx context.Context, id string) (net.Conn, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	// The hijacked connection outlives the client that made it.
	defer cli.Close()
	res, err := cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true})
	if err != nil {
		return nil, fmt.Errorf("attach to the broker's stdin: %w", err)
	}
	return res.Conn, nil
}

func ryukHint(err error) string {
	if !testcontainers.ReadConfig().Config.RyukDisabled && errors.Is(err, context.DeadlineExceeded) {
		return " (if the reaper image cannot be pulled here, set TESTCONTAINERS_RYUK_DISABLED=true)"
	}
	return ""
}
