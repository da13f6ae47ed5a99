package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Durations;
import io.bonestream.job.KafkaClients;
import io.bonestream.job.KafkaProperties;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.decode.ControlRecords;
import io.bonestream.operators.publish.SigningKeySource;
import io.bonestream.schemas.SigningKeys;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "erase", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Asks the running job to forget an example, or all of a user's examples, of one adapter: writes an",
        "erasure request to the control topic (docs/inputs.md#the-control-topic). The adapter's trainer removes",
        "them from its buffers, replay reservoir and eval set, records the erasure in its next manifest, and",
        "with --retrain, where a step since its last version trained on them, goes back to that version",
        "(docs/continual.md#erasure).",
        "A job with control.public-keys acts only on requests signed with one of their private keys (--signing-key)."})
final class EraseCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = {"--bootstrap", "--bootstrap-servers"}, required = true, paramLabel = "HOST:PORT",
      description = "Kafka bootstrap servers")
  String bootstrap;

  @Option(names = "--topic", defaultValue = StreamingJob.CONTROL_TOPIC, paramLabel = "T",
      description = "the job's control topic, topics.control (default: ${DEFAULT-VALUE})")
  String topic;

  @Option(names = "--adapter", required = true, paramLabel = "ID", description = "the adapter that forgets")
  String adapter;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Target target;

  static final class Target {
    @Option(names = "--example-id", required = true, paramLabel = "X", description = "the example's id (its example_id)")
    String exampleId;

    @Option(names = "--user-id", required = true, paramLabel = "U",
        description = "the user whose examples it forgets (their metadata user_id)")
    String userId;
  }

  @Option(names = "--retrain",
      description = "also take the adapter back to its last version, where a step since trained on them")
  boolean retrain;

  @Option(names = "--kafka-config", paramLabel = "FILE", description = "Kafka client properties (TLS, SASL, ...)")
  Path kafkaConfig;

  @ArgGroup(exclusive = true)
  Key key;

  @Option(names = "--wait", paramLabel = "DURATION",
      description = "wait up to this long for the version that lists the request, and print what it removed")
  String wait;

  @Option(names = "--adapters-topic", defaultValue = StreamingJob.ADAPTERS_TOPIC, paramLabel = "T",
      description = "with --wait: the job's adapters topic (default: ${DEFAULT-VALUE})")
  String adaptersTopic;

  @Option(names = "--public-key", paramLabel = "FILE",
      description = "with --wait: count only versions signed with one of these public keys (repeatable)")
  List<Path> publicKeys = new ArrayList<>();

  static final class Key {
    @Option(names = "--signing-key", required = true, paramLabel = "FILE",
        description = "sign the request with this private key file (bonestream keygen; readable by its owner only)")
    String file;

    @Option(names = "--signing-key-env", required = true, paramLabel = "VAR",
        description = "sign the request with the private key held by this environment variable")
    String environmentVariable;
  }

  @Override
  public Integer call() {
    String problem = ControlRecords.problem(adapter, target.exampleId, target.userId);
    if (problem != null) {
      throw new BonestreamException(problem);
    }
    if (topic.isBlank()) {
      throw new BonestreamException("--topic is empty");
    }
    Duration waitFor = wait == null ? null : Durations.parse(wait, "--wait");
    if (wait == null && (!publicKeys.isEmpty() || !adaptersTopic.equals(StreamingJob.ADAPTERS_TOPIC))) {
      throw new BonestreamException("--adapters-topic and --public-key go with --wait");
    }
    byte[] value = key == null ? ControlRecords.erase(adapter, target.exampleId, target.userId, retrain)
        : ControlRecords.erase(adapter, target.exampleId, target.userId, retrain, signer(), Instant.now());
    Properties props = KafkaProperties.load(kafkaConfig);
    try (ErasureWait confirmation = waitFor == null ? null
        : new ErasureWait(bootstrap, props, adaptersTopic, TailSnapshotsCommand.publicKeys(publicKeys))) {
      RecordMetadata written = send(value, props);
      PrintWriter out = spec.commandLine().getOut();
      out.println("wrote " + new String(value, StandardCharsets.UTF_8) + " to " + topic
          + " (partition " + written.partition() + ", offset " + written.offset() + ")");
      if (confirmation == null) {
        return 0;
      }
      out.println("waiting up to " + wait + " for a version of " + adapter + " on " + confirmation.topic()
          + " that lists it ...");
      out.flush();
      ErasureWait.Found found = confirmation.await(adapter, topic, written.partition(), written.offset(), waitFor);
      if (found == null) {
        throw new BonestreamException("no version of " + adapter + " listed the request within " + wait
            + ": the adapter's next version lists it once its trainer has read it (tail-snapshots shows them); "
            + "a job that holds nothing of " + adapter + " never does");
      }
      out.println(found.describe(adapter));
      return 0;
    }
  }

  private RecordMetadata send(byte[] value, Properties props) {
    RecordMetadata written;
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, props)) {
      // keyed by adapter: one adapter's requests stay in order on one partition
      var sent = p.send(new ProducerRecord<>(topic, adapter.getBytes(StandardCharsets.UTF_8), value));
      p.flush();
      written = sent.get(60, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw new BonestreamException("cannot send to " + topic + " at " + bootstrap + ": " + e.getCause().getMessage());
    } catch (TimeoutException e) {
      throw new BonestreamException("no answer from Kafka at " + bootstrap + " within 60 s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BonestreamException("interrupted");
    }
    return written;
  }

  private SigningKeys.Signer signer() {
    SigningKeySource source = key.file != null ? SigningKeySource.file(key.file)
        : SigningKeySource.environment(key.environmentVariable);
    return source.load();
  }
}
