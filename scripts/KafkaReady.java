// KafkaReady waits until a Kafka broker answers metadata requests.
//
// Run with Java's single-file source launcher and the broker's own
// classpath (kafka-clients is on it), so the check needs nothing beyond the
// JDK and the jars the broker already runs from:
//
//   java -cp 'LIB/*' scripts/KafkaReady.java BOOTSTRAP DEADLINE_SECONDS [BROKER_PID]
//
// Exit codes: 0 ready, 1 deadline passed, 2 the broker process exited,
// 64 bad arguments. Polling (rather than one long request) is deliberate:
// while the broker starts, connections are refused and each attempt must be
// short so the deadline and the liveness check stay responsive.
import java.util.Collection;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Node;

public class KafkaReady {
    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: KafkaReady BOOTSTRAP DEADLINE_SECONDS [BROKER_PID]");
            System.exit(64);
        }
        String bootstrap = args[0];
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
        long pid = args.length == 3 ? Long.parseLong(args[2]) : -1;

        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "kafka-local-ready");

        String last = "no attempt made";
        try (Admin admin = Admin.create(props)) {
            while (true) {
                if (pid > 0 && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                    System.err.println("broker process " + pid + " exited before it became ready");
                    System.exit(2);
                }
                try {
                    Collection<Node> nodes = admin.describeCluster().nodes().get(3, TimeUnit.SECONDS);
                    if (!nodes.isEmpty()) {
                        String clusterId = admin.describeCluster().clusterId().get(3, TimeUnit.SECONDS);
                        System.err.println("broker ready: cluster " + clusterId + ", nodes " + nodes);
                        System.exit(0);
                    }
                    last = "metadata lists no brokers yet";
                } catch (Exception e) {
                    last = e.getClass().getSimpleName() + ": " + e.getMessage();
                }
                if (System.nanoTime() > deadline) {
                    System.err.println("broker at " + bootstrap + " not ready before the deadline; last error: " + last);
                    System.exit(1);
                }
                Thread.sleep(250);
            }
        }
    }
}
