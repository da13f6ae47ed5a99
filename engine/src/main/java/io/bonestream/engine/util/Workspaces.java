package io.bonestream.engine.util;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J workspaces: every array created while one is open is carved out of one block that is
 * reused by the next pass, instead of a fresh native allocation per array. A fresh allocation
 * page-faults on first touch, which is slow on virtual machines; a workspace makes a training step
 * allocation-free after its first run.
 *
 * <p>An array created inside a workspace is invalid once it closes: return only numbers, or
 * {@code detach()} what must outlive the scope. Workspaces belong to the calling thread.
 */
public final class Workspaces {
  private static final WorkspaceConfiguration CONFIG = WorkspaceConfiguration.builder()
      .initialSize(0)
      .policyAllocation(AllocationPolicy.OVERALLOCATE)
      .overallocationLimit(0.2)
      .policyLearning(LearningPolicy.FIRST_LOOP)
      .policyReset(ResetPolicy.BLOCK_LEFT)
      .policySpill(SpillPolicy.REALLOCATE)
      .build();

  /** The forward/backward pass of a model. */
  public static final String PASS = "bonestream-pass";
  /** The optimizer update of a training step. */
  public static final String UPDATE = "bonestream-update";

  private Workspaces() {}

  /** Opens (activates) the calling thread's workspace {@code id}; close it with try-with-resources. */
  public static MemoryWorkspace open(String id) {
    return Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, id);
  }
}
