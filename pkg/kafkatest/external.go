package kafkatest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pingTimeout bounds the first contact with a shared cluster. A broker that
// was just started (CI) may still be finishing its startup.
const pingTimeout = 30 * time.Second

// The external cluster is checked once per process; later tests reuse the
// verdict instead of each waiting out a dead cluster.
var external struct {
	once    sync.Once
	backend *Backend
	err     error
}

func startExternal(t testing.TB) *Backend {
	t.Helper()
	external.once.Do(func() {
		brokers := parseBrokers(os.Getenv(EnvBrokers))
		if err := ping(brokers); err != nil {
			external.err = fmt.Errorf("%s=%s is set but the cluster does not answer: %w "+
				"(start one with `make kafka-up`, or unset %s to use kfake)",
				EnvBrokers, strings.Join(brokers, ","), err, EnvBrokers)
			return
		}
		external.backend = &Backend{Name: NameExternal, Brokers: brokers}
	})
	if external.err != nil {
		t.Fatalf("kafkatest: %v", external.err)
	}
	return external.backend
}

// ping succeeds once the cluster answers a metadata request listing at
// least one broker.
func ping(brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	list, err := kadm.NewClient(cl).ListBrokers(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return fmt.Errorf("metadata lists no brokers")
	}
	return nil
}
