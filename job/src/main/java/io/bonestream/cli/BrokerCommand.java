package io.bonestream.cli;

import io.bonestream.job.EmbeddedKafka;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "broker", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Runs a single-node Kafka broker (KRaft) in this process until it is stopped: for trying",
        "the job on a local Flink cluster (docs/cluster.md) or a GPU machine without Kafka. Prints",
        "'broker ready at HOST:PORT' once it answers. Not for production: one node, no replication."})
final class BrokerCommand implements Callable<Integer> {
  static final String READY = "broker ready at ";

  @Option(names = "--port", defaultValue = "9092",
      description = "the port it listens on, on localhost (default: ${DEFAULT-VALUE}; 0 = any free port)")
  int port;

  @Option(names = "--data-dir", required = true, paramLabel = "DIR", description = "the broker's logs (kept: a restart resumes)")
  Path dataDir;

  @Option(names = "--topic", paramLabel = "NAME:PARTITIONS", description = "a topic to create once it runs (repeatable)")
  List<String> topics = new ArrayList<>();

  @Override
  public Integer call() throws InterruptedException {
    for (String t : topics) {
      partitions(t); // usage errors before the broker starts
    }
    // before Kafka's own attempt, which logs a page of stack traces first
    Ports.requireFree("localhost", String.valueOf(port), "--port");
    EmbeddedKafka kafka = EmbeddedKafka.start(port, dataDir, false);
    Runtime.getRuntime().addShutdownHook(new Thread(kafka::close, "broker-shutdown"));
    for (String t : topics) {
      EmbeddedKafka.createTopic(kafka.bootstrapServers(), t.substring(0, t.lastIndexOf(':')), partitions(t), false);
    }
    System.out.println(READY + kafka.bootstrapServers());
    System.out.flush();
    Thread.currentThread().join();
    return 0;
  }

  private static int partitions(String topic) {
    int at = topic.lastIndexOf(':');
    try {
      int n = at > 0 ? Integer.parseInt(topic.substring(at + 1)) : -1;
      if (n > 0) {
        return n;
      }
    } catch (NumberFormatException e) {
      // falls through to the usage error
    }
    throw new io.bonestream.core.BonestreamException("--topic wants NAME:PARTITIONS (e.g. in:2), got '" + topic + "'");
  }
}
