package io.bonestream.job;

import io.bonestream.engine.TestFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The job.yaml of an integration test on an embedded broker: Kafka group and transactional ids
 * {@code P}, topics {@code P.instructions}, {@code P.adapters}, {@code P.dlq} and {@code P.gated},
 * stories260K, sequences of at most 64 tokens, a checkpoint every second under {@code tmp/ckpt},
 * claim checks under {@code tmp/blobs}; then the test's own lines.
 */
final class TestJobYaml {
  private TestJobYaml() {}

  /** Writes {@code tmp/job.yaml} with prefix {@code p} and {@code lines} after the common ones, and reads it. */
  static JobConfig write(Path tmp, String bootstrap, String p, String... lines) throws IOException {
    List<String> all = new ArrayList<>(List.of(
        "kafka: {bootstrap-servers: \"" + bootstrap + "\", group-id: " + p + ", transactional-id-prefix: " + p + "}",
        "topics: {instructions: " + p + ".instructions, adapters: " + p + ".adapters, dead-letters: " + p + ".dlq, "
            + "gated: " + p + ".gated}",
        "model: " + TestFiles.stories260K(),
        "max-seq-len: 64",
        "checkpoints: {dir: \"" + tmp.resolve("ckpt").toUri() + "\", interval: 1s}",
        "blob-store: \"" + tmp.resolve("blobs").toUri() + "\""));
    all.addAll(List.of(lines));
    all.add("");
    Path yaml = tmp.resolve("job.yaml");
    Files.writeString(yaml, String.join("\n", all));
    return JobConfig.read(yaml);
  }
}
