package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.bonestream.engine.TestFiles;
import io.bonestream.engine.util.Threads;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An in-process command that sets the compute threads leaves the test JVM's setting as it found it
 * (Cli): results are bit-identical only for one thread count, and a later test comparing an
 * in-process run with a process must not inherit another command's count.
 */
@Timeout(120)
class CliThreadsTest {
  @Test
  void aCommandsThreadCountDoesNotOutliveIt() {
    int setting = Threads.setting();
    int ompThreads = Threads.current();
    int other = ompThreads == 1 ? 2 : 1;
    Cli cli = Cli.run("generate", "--model", TestFiles.stories260K().toString(), "--prompt", "Once",
        "--max-new-tokens", "2", "--threads", "" + other);
    assertEquals(0, cli.exitCode(), cli.err());
    assertEquals(setting, Threads.setting());
    assertEquals(ompThreads, Threads.current(), "ND4J's threads after the command");
  }
}
