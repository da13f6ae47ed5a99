package io.bonestream.engine.util;

import org.nd4j.common.config.ND4JClassLoading;

/**
 * ND4J finds its backend and its compressors through a class loader it keeps from the first
 * thread that touched it. In a Flink JobManager or TaskManager that is the user-code class loader
 * of the first job, closed when that job ends: a later job on the same JVM then fails, the first
 * time it needs a lookup the earlier job had not ("Trying to access closed classloader", e.g. on
 * the first adapter a TaskManager creates). ND4J lives on the cluster's own classpath (its lib
 * folder), so its own class loader sees everything it looks up.
 */
public final class Nd4jClassLoader {
  private Nd4jClassLoader() {}

  /** Points ND4J's lookups at the class loader that loaded ND4J; call before a job uses ND4J. */
  public static void useNd4jsOwn() {
    ND4JClassLoading.setNd4jClassloader(ND4JClassLoading.class.getClassLoader());
  }
}
