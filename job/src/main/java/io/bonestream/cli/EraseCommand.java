package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Durations;
import io.bonestream.job.KafkaChecks;
import io.bonestream.job.KafkaClients;
import io.bonestream.job.KafkaProperties;
import io.bonestream.operators.EveryAdapter;
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
import java.util.Map;
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
    description = {"Asks the running job to forget an example, or all of a user's examples, of an adapter (or several, or",
        "all): writes an erasure request to the control topic (docs/inputs.md#the-control-topic). The adapter's trainer removes",
        "them from its buffers, replay reservoir and eval set, records the erasure in its next manifest, and",
        "with --retrain, where a step since its last version trained on them, goes back to that version",
        "(docs/continual.md#erasure).",
        "A job with control.public-keys acts only on requests signed with one of their private keys (--signing-key).",
        "--user-ids FILE or --example-ids FILE writes one request per line of FILE (- for standard input), at most",
        "10,000 a run for each adapter; --adapter more than once: one for each adapter. --all-adapters writes one",
        "request to every adapter the job holds (\"adapter_id\": \"*\"), those without a version yet included."})
final class EraseCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = {"--bootstrap", "--bootstrap-servers"}, required = true, paramLabel = "HOST:PORT",
      description = "Kafka bootstrap servers")
  String bootstrap;

  @Option(names = "--topic", defaultValue = StreamingJob.CONTROL_TOPIC, paramLabel = "T",
      description = "the job's control topic, topics.control (default: ${DEFAULT-VALUE})")
  String topic;

  @Option(names = "--adapter", paramLabel = "ID", description = "the adapter that forgets (repeatable)")
  List<String> adapters = new ArrayList<>();

  @Option(names = "--all-adapters", description = "every adapter the job holds, instead of --adapter; with --wait: "
      + "waits for the versions of those with a version on the adapters topic (--adapters-topic)")
  boolean allAdapters;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Target target;

  static final class Target {
    @Option(names = "--example-id", required = true, paramLabel = "X", description = "the example's id (its example_id)")
    String exampleId;

    @Option(names = "--user-id", required = true, paramLabel = "U",
        description = "the user whose examples it forgets (their metadata user_id)")
    String userId;

    @Option(names = "--user-ids", required = true, paramLabel = "FILE",
        description = "many users: their user ids, one a line (- for standard input)")
    String userIdsFile;

    @Option(names = "--example-ids", required = true, paramLabel = "FILE",
        description = "many examples: their example ids, one a line (- for standard input)")
    String exampleIdsFile;
  }

  /** One request to write: the example id or the user id it names. */
  private record Request(String exampleId, String userId) {}

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

  /** The most requests one run writes, over all its adapters. */
  static final int MAX_REQUESTS = 100_000;

  @Override
  public Integer call() {
    if (allAdapters == !adapters.isEmpty()) {
      throw new BonestreamException("name the adapters that forget: --adapter ID (one or more) or --all-adapters");
    }
    List<Request> requests = requests();
    if (topic.isBlank()) {
      throw new BonestreamException("--topic is empty");
    }
    Duration waitFor = wait == null ? null : Durations.parse(wait, "--wait");
    if (wait == null && !publicKeys.isEmpty()) {
      throw new BonestreamException("--public-key goes with --wait");
    }
    if (wait == null && !adaptersTopic.equals(StreamingJob.ADAPTERS_TOPIC)) {
      throw new BonestreamException("--adapters-topic goes with --wait");
    }
    Properties props = KafkaProperties.load(kafkaConfig);
    // --all-adapters: one request to every adapter, which the job copies to each it holds
    List<String> ids = allAdapters ? List.of(EveryAdapter.ID) : List.copyOf(new java.util.LinkedHashSet<>(adapters));
    // with --wait, whose versions must list the requests: those with a version now (the others list them in their first)
    List<String> awaited = !allAdapters ? ids
        : waitFor == null ? List.of() : PublishedAdapterIds.read(bootstrap, props, adaptersTopic);
    if ((long) ids.size() * requests.size() > MAX_REQUESTS) {
      throw new BonestreamException(ids.size() + " adapters times " + requests.size() + " ids is more than "
          + MAX_REQUESTS + " requests a run");
    }
    SigningKeys.Signer signer = key == null ? null : signer();
    Instant issued = Instant.now();
    List<String> forAdapter = new ArrayList<>();
    List<byte[]> values = new ArrayList<>();
    for (String adapter : ids) {
      for (Request r : requests) {
        forAdapter.add(adapter);
        values.add(signer == null ? ControlRecords.erase(adapter, r.exampleId(), r.userId(), retrain)
            : ControlRecords.erase(adapter, r.exampleId(), r.userId(), retrain, signer, issued));
      }
    }
    try (ErasureWait confirmation = waitFor == null ? null
        : new ErasureWait(bootstrap, props, adaptersTopic, TailSnapshotsCommand.publicKeys(publicKeys))) {
      List<RecordMetadata> written = send(forAdapter, values, props);
      PrintWriter out = spec.commandLine().getOut();
      RecordMetadata first = written.get(0);
      String what = target.userIdsFile != null ? "user ids from " + target.userIdsFile
          : target.exampleIdsFile != null ? "example ids from " + target.exampleIdsFile
          : target.userId != null ? "user id " + target.userId : "example id " + target.exampleId;
      if (values.size() == 1) {
        out.println("wrote " + new String(values.get(0), StandardCharsets.UTF_8) + " to " + topic
            + " (partition " + first.partition() + ", offset " + first.offset() + ")");
      } else if (ids.size() == 1) {
        out.println("wrote " + values.size() + " erasure requests " + (allAdapters ? "for every adapter" : "of " + ids.get(0))
            + " (" + what + ") to " + topic
            + " (partition " + first.partition() + ", offsets " + first.offset() + " to "
            + written.get(written.size() - 1).offset() + ")");
      } else {
        out.println("wrote " + values.size() + " erasure requests (" + what + ") for " + ids.size() + " adapters ("
            + String.join(", ", ids.size() <= 5 ? ids : ids.subList(0, 5)) + (ids.size() > 5 ? ", ..." : "")
            + ") to " + topic);
      }
      if (confirmation == null) {
        return 0;
      }
      if (awaited.isEmpty()) { // --all-adapters, and no adapter has a version yet
        out.println("no adapter has a version on " + confirmation.topic() + " yet: nothing to wait for; each adapter "
            + "the job holds lists " + (values.size() == 1 ? "the request" : "the requests") + " in its next version");
        return 0;
      }
      out.println("waiting up to " + wait + " for versions of " + (awaited.size() == 1 ? awaited.get(0)
          : allAdapters ? "the " + awaited.size() + " adapters with a version" : "the adapters")
          + " on " + confirmation.topic() + " that list " + (values.size() == 1 ? "it" : "them") + " ...");
      out.flush();
      Map<String, ErasureWait.Wanted> wanted = new java.util.TreeMap<>();
      for (int i = 0; i < written.size(); i++) {
        RecordMetadata w = written.get(i);
        for (String adapter : allAdapters ? awaited : List.of(forAdapter.get(i))) {
          wanted.computeIfAbsent(adapter, a -> new ErasureWait.Wanted(w.partition(), new java.util.TreeSet<>()))
              .offsets().add(w.offset());
        }
      }
      int expected = wanted.values().stream().mapToInt(w -> w.offsets().size()).sum();
      Map<String, Map<Long, ErasureWait.Found>> found = confirmation.await(wanted, topic, waitFor);
      int listed = found.values().stream().mapToInt(Map::size).sum();
      if (listed < expected) {
        List<String> waiting = found.entrySet().stream()
            .filter(e -> e.getValue().size() < wanted.get(e.getKey()).offsets().size()).map(Map.Entry::getKey).toList();
        throw new BonestreamException((expected == 1 ? "no version of " + awaited.get(0) + " listed the request"
            : (expected - listed) + " of the " + expected + " listings awaited are missing from the versions of "
                + String.join(", ", waiting.size() <= 5 ? waiting : waiting.subList(0, 5))
                + (waiting.size() > 5 ? " and " + (waiting.size() - 5) + " more" : ""))
            + " within " + wait + ": an adapter's versions list its requests once its trainer has read them "
            + "(tail-snapshots shows them); a job that holds nothing of an adapter never does");
      }
      if (expected == 1) {
        out.println(found.get(awaited.get(0)).values().iterator().next().describe(awaited.get(0)));
      } else if (found.size() == 1) {
        out.println(ErasureWait.Found.describe(awaited.get(0), found.get(awaited.get(0)).values()));
      } else {
        out.println(ErasureWait.Found.describe(found));
      }
      if (allAdapters) {
        out.println("adapters without a version yet list " + (values.size() == 1 ? "it" : "them")
            + " in their first");
      }
      return 0;
    }
  }

  /** The requests the options name: one, or one per id of a file, each checked as the job checks it. */
  private List<Request> requests() {
    for (String adapter : adapters) {
      String problem = ControlRecords.problem(adapter, "x", null);
      if (problem != null) {
        throw new BonestreamException(problem);
      }
    }
    String problem;
    List<Request> requests = new ArrayList<>();
    if (target.userIdsFile != null) {
      ErasureIds.read(target.userIdsFile, "user id", System.in).forEach(u -> requests.add(new Request(null, u)));
    } else if (target.exampleIdsFile != null) {
      ErasureIds.read(target.exampleIdsFile, "example id", System.in).forEach(x -> requests.add(new Request(x, null)));
    } else {
      problem = ControlRecords.problem("a", target.exampleId, target.userId);
      if (problem != null) {
        throw new BonestreamException(problem);
      }
      requests.add(new Request(target.exampleId, target.userId));
    }
    return requests;
  }

  private List<RecordMetadata> send(List<String> adapters, List<byte[]> values, Properties props) {
    List<RecordMetadata> written = new ArrayList<>();
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, props)) {
      KafkaChecks.awaitTopic(p, bootstrap, props, topic);
      // keyed by adapter: one adapter's requests stay in order on one partition
      List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
      for (int i = 0; i < values.size(); i++) {
        sent.add(p.send(new ProducerRecord<>(topic, adapters.get(i).getBytes(StandardCharsets.UTF_8), values.get(i))));
      }
      p.flush();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      for (var s : sent) {
        written.add(s.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
      }
    } catch (ExecutionException e) {
      throw new BonestreamException(KafkaChecks.sendFailure(bootstrap, props, topic, e.getCause())
          + written(written.size(), values.size()));
    } catch (TimeoutException e) {
      throw new BonestreamException("no answer from Kafka at " + bootstrap + " within 60 s"
          + written(written.size(), values.size()));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BonestreamException("interrupted");
    }
    return written;
  }

  /** What was written before a failure, where a run writes more than one request. */
  private static String written(int written, int all) {
    return all == 1 ? "" : " (" + written + " of the " + all + " requests were written, in the order of the file)";
  }

  private SigningKeys.Signer signer() {
    SigningKeySource source = key.file != null ? SigningKeySource.file(key.file)
        : SigningKeySource.environment(key.environmentVariable);
    return source.load();
  }
}
