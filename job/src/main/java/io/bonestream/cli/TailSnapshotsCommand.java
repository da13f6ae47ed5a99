package io.bonestream.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.util.Json;
import io.bonestream.core.util.Durations;
import io.bonestream.job.KafkaClients;
import io.bonestream.job.KafkaProperties;
import io.bonestream.operators.StreamingJob;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ClaimCheck;
import io.bonestream.schemas.GatedSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.OffsetRange;
import io.bonestream.schemas.SigningKeys;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "tail-snapshots", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Prints one JSON line per committed adapter manifest (read_committed), without",
        "the payload bytes. Stops after --max manifests or --timeout without a new one."})
final class TailSnapshotsCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--bootstrap", required = true, paramLabel = "HOST:PORT", description = "Kafka bootstrap servers")
  String bootstrap;

  @Option(names = "--topic", paramLabel = "T",
      description = "the topic to read (default: " + StreamingJob.ADAPTERS_TOPIC + "; with --gated " + StreamingJob.GATED_TOPIC + ")")
  String topic;

  @Option(names = "--gated", description =
      "show the snapshots the eval gate held back (not published) instead, with their "
      + "eval loss against the best published one")
  boolean gated;

  @Option(names = "--from-beginning", description = "start at the oldest manifest (default: only new ones)")
  boolean fromBeginning;

  @Option(names = "--max", defaultValue = "0", paramLabel = "N", description = "stop after N manifests (0 = no limit)")
  int max;

  @Option(names = "--timeout", defaultValue = "60s", paramLabel = "DURATION",
      description = "stop after this long without a new manifest (default: ${DEFAULT-VALUE})")
  String timeout;

  @Option(names = "--kafka-config", paramLabel = "FILE", description = "Kafka client properties (TLS, SASL, ...)")
  Path kafkaConfig;

  @Option(names = "--public-key", paramLabel = "FILE",
      description = "check each manifest's signature against these Ed25519 public keys (repeatable)")
  List<Path> publicKeys = new java.util.ArrayList<>();

  @Override
  public Integer call() {
    Duration idle = Durations.parse(timeout, "--timeout");
    PrintWriter out = spec.commandLine().getOut();
    java.util.Map<String, java.security.PublicKey> trusted = publicKeys(publicKeys);
    if (topic == null) {
      topic = gated ? StreamingJob.GATED_TOPIC : StreamingJob.ADAPTERS_TOPIC;
    }
    Properties props = KafkaProperties.load(kafkaConfig);
    props.put("default.api.timeout.ms", "30000");
    int seen = 0;
    try (KafkaConsumer<byte[], byte[]> c = KafkaClients.committedReader(bootstrap, props)) {
      List<TopicPartition> parts = c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
          .map(p -> new TopicPartition(topic, p.partition())).toList();
      if (parts.isEmpty()) {
        throw new io.bonestream.core.BonestreamException("topic " + topic + " not found at " + bootstrap);
      }
      c.assign(parts);
      if (fromBeginning) {
        c.seekToBeginning(parts);
      } else {
        c.seekToEnd(parts);
      }
      long last = System.nanoTime();
      while (System.nanoTime() - last < idle.toNanos() && (max == 0 || seen < max)) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          ObjectNode line;
          if (gated) {
            line = describeGated(r);
          } else {
            line = describe(KafkaClients.snapshot(r.value()), r);
            line.put("signature", signature(r.value(), trusted));
          }
          out.println(Json.toCompactString(line));
          out.flush();
          last = System.nanoTime();
          if (++seen == max) {
            break;
          }
        }
      }
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      throw new io.bonestream.core.BonestreamException("no answer from Kafka at " + bootstrap);
    }
    return 0;
  }

  /** The public key files given by --public-key, by key id; an unreadable one is one line of error. */
  static java.util.Map<String, java.security.PublicKey> publicKeys(List<Path> files) {
    java.util.Map<String, java.security.PublicKey> trusted = new java.util.HashMap<>();
    for (Path p : files) {
      try {
        java.security.PublicKey k = SigningKeys.readPublicKey(p);
        trusted.put(SigningKeys.keyId(k), k);
      } catch (IllegalArgumentException e) {
        throw new io.bonestream.core.BonestreamException(e.getMessage());
      }
    }
    return trusted;
  }

  /**
   * "valid (KEY ID)", "UNSIGNED", "UNKNOWN_KEY (KEY ID)" or "BAD_SIGNATURE (KEY ID)" with public
   * keys; without them only whether and by which key the manifest says it is signed.
   */
  static String signature(byte[] manifest, java.util.Map<String, java.security.PublicKey> trusted) {
    ManifestSignatures.Check c = ManifestSignatures.verify(manifest, trusted);
    if (trusted.isEmpty()) {
      return c.verdict() == ManifestSignatures.Verdict.UNSIGNED ? "unsigned" : "signed by " + c.keyId() + " (not checked)";
    }
    return switch (c.verdict()) {
      case VALID -> "valid (" + c.keyId() + ")";
      case UNSIGNED -> "UNSIGNED";
      case INVALID -> "INVALID";
      default -> c.verdict() + " (" + c.keyId() + ")";
    };
  }

  /** A held-back snapshot as JSON. */
  static ObjectNode describeGated(ConsumerRecord<byte[], byte[]> r) {
    GatedSnapshot g;
    try {
      g = io.bonestream.schemas.GatedSnapshots.decode(r.value());
    } catch (java.io.IOException | RuntimeException e) {
      throw new io.bonestream.core.BonestreamException("offset " + r.offset() + " is not a GatedSnapshot: "
          + e.getMessage());
    }
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("adapter_id", g.getAdapterId());
    n.put("held_back_after_version", g.getAfterVersion());
    n.put("created_at", g.getCreatedAt().toString());
    n.put("step", g.getStats().getStep());
    n.put("eval_loss", g.getStats().getEvalLoss());
    n.put("best_eval_loss", g.getBestEvalLoss());
    n.put("tolerance", g.getTolerance());
    n.put("eval_examples", g.getEvalExamples());
    n.put("loss_ema", g.getStats().getLossEma());
    n.put("reason", g.getReason() == null ? "EVAL_LOSS" : g.getReason()); // schema 1 had only the eval gate
    continual(n, g.getStats());
    n.put("offset", r.offset());
    return n;
  }

  /** The continual-learning statistics (docs/continual.md), those that are set. */
  private static void continual(ObjectNode n, io.bonestream.schemas.TrainingStats s) {
    if (s.getAnchorLoss() != null) {
      n.put("anchor_loss", s.getAnchorLoss());
      n.put("base_anchor_loss", s.getBaseAnchorLoss());
    }
    if (s.getReplayedExamples() > 0) {
      n.put("replayed_examples", s.getReplayedExamples());
    }
    if (s.getDriftEvents() > 0) {
      n.put("drift_events", s.getDriftEvents());
    }
  }

  /** A manifest as JSON, payload bytes left out. */
  static ObjectNode describe(AdapterSnapshot s, ConsumerRecord<byte[], byte[]> r) {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("adapter_id", s.getAdapterId());
    n.put("version", s.getVersion());
    n.put("created_at", s.getCreatedAt().toString());
    n.put("base_model", s.getBaseModel().getName());
    n.put("base_weights_sha256", s.getBaseModel().getWeightsSha256());
    n.put("method", s.getMethod());
    n.put("peft_type", s.getPeftType());
    n.put("r", s.getR());
    var stats = n.putObject("stats");
    stats.put("step", s.getStats().getStep());
    stats.put("tokens", s.getStats().getTokens());
    stats.put("examples", s.getStats().getExamples());
    stats.put("skipped_steps", s.getStats().getSkippedSteps());
    stats.put("last_loss", s.getStats().getLastLoss());
    stats.put("loss_ema", s.getStats().getLossEma());
    if (s.getStats().getEvalLoss() != null) {
      stats.put("eval_loss", s.getStats().getEvalLoss());
    }
    continual(stats, s.getStats());
    var lineage = n.putArray("lineage");
    for (OffsetRange o : s.getLineage()) {
      lineage.addObject().put("topic", o.getTopic()).put("partition", o.getPartition())
          .put("first_offset", o.getFirstOffset()).put("last_offset", o.getLastOffset())
          .put("records", o.getRecords());
    }
    if (s.getPayload() instanceof InlineAdapter in) {
      byte[] bytes = new byte[in.getAdapterModelSafetensors().remaining()];
      in.getAdapterModelSafetensors().duplicate().get(bytes);
      // the hash lets a reader compare two runs' versions byte for byte
      n.putObject("payload").put("inline_bytes", bytes.length).put("sha256", io.bonestream.core.util.Hashes.sha256Hex(bytes));
    } else if (s.getPayload() instanceof ClaimCheck cc) {
      n.putObject("payload").put("uri", cc.getUri()).put("size", cc.getSize()).put("sha256", cc.getSha256());
    }
    if (s.getDrift() != null) {
      n.putObject("drift").put("step", s.getDrift().getStep()).put("loss", s.getDrift().getLoss())
          .put("baseline", s.getDrift().getBaseline()).put("action", s.getDrift().getAction());
    }
    if (!s.getErasures().isEmpty()) {
      var erasures = n.putArray("erasures");
      for (io.bonestream.schemas.Erasure e : s.getErasures()) {
        var o = erasures.addObject();
        if (e.getExampleId() != null) {
          o.put("example_id", e.getExampleId());
        }
        if (e.getUserId() != null) {
          o.put("user_id", e.getUserId());
        }
        o.put("removed_buffered", e.getRemovedBuffered()).put("removed_replay", e.getRemovedReplay())
            .put("removed_eval", e.getRemovedEval()).put("retrained", e.getRetrained())
            .put("discarded_steps", e.getDiscardedSteps());
      }
    }
    if (s.getResumedFrom() != null) {
      n.putObject("resumed_from").put("version", s.getResumedFrom().getVersion())
          .put("reason", s.getResumedFrom().getReason())
          .put("fresh_optimizer", s.getResumedFrom().getFreshOptimizer());
    }
    n.put("offset", r.offset());
    return n;
  }
}
