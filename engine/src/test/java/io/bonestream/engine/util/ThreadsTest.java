package io.bonestream.engine.util;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The thread count without ND4J: OMP_NUM_THREADS when it is a positive number, else one per core. */
@Timeout(10)
class ThreadsTest {
  @Test
  void withoutNd4jTheEnvironmentOrTheCoresDecide() {
    int cores = Runtime.getRuntime().availableProcessors();
    assertEquals(3, Threads.withoutNd4j("3"));
    assertEquals(3, Threads.withoutNd4j(" 3 "));
    assertEquals(cores, Threads.withoutNd4j(null));
    assertEquals(cores, Threads.withoutNd4j("0"));
    assertEquals(cores, Threads.withoutNd4j("many"));
  }
}
