package io.bonestream.engine;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Prints every thread's stack when a test or lifecycle method fails by its timeout, then lets the
 * failure through. The tests run in a separate thread under JUnit's timeouts (parent pom), where
 * JUnit abandons the hung thread without interrupting it, so its own thread dump (taken before an
 * interrupt) never comes; this one does, while the hung thread still stands where it hung.
 * Registered for every module whose tests see the engine's test jar
 * ({@code META-INF/services/org.junit.jupiter.api.extension.Extension}, autodetection on).
 */
public final class TimeoutThreadDump implements TestExecutionExceptionHandler, LifecycleMethodExecutionExceptionHandler {
  @Override
  public void handleTestExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
    dumpOnTimeout(context, throwable);
    throw throwable;
  }

  @Override
  public void handleBeforeAllMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
    dumpOnTimeout(context, throwable);
    throw throwable;
  }

  @Override
  public void handleBeforeEachMethodExecutionException(ExtensionContext context, Throwable throwable)
      throws Throwable {
    dumpOnTimeout(context, throwable);
    throw throwable;
  }

  @Override
  public void handleAfterEachMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
    dumpOnTimeout(context, throwable);
    throw throwable;
  }

  @Override
  public void handleAfterAllMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
    dumpOnTimeout(context, throwable);
    throw throwable;
  }

  private static void dumpOnTimeout(ExtensionContext context, Throwable throwable) {
    if (!(throwable instanceof TimeoutException)) {
      return;
    }
    StringBuilder out = new StringBuilder("\n==== " + context.getDisplayName() + " in "
        + context.getRequiredTestClass().getName() + ": " + throwable.getMessage() + "; the threads:\n");
    for (ThreadInfo t : ManagementFactory.getThreadMXBean().dumpAllThreads(true, true)) {
      out.append('"').append(t.getThreadName()).append("\" ").append(t.getThreadState());
      if (t.getLockName() != null) {
        out.append(" on ").append(t.getLockName());
      }
      out.append('\n');
      for (StackTraceElement e : t.getStackTrace()) { // all frames: ThreadInfo.toString cuts at 8
        out.append("\tat ").append(e).append('\n');
      }
      out.append('\n');
    }
    System.out.println(out);
  }
}
