package io.bonestream.subscriber;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Reads a stream whole, but never more than a size and never longer than a time: past the size
 * it stops at once, past the time it closes the stream (which ends a blocked read). A blob store
 * that sends more than the manifest announced, or a byte a minute, costs neither memory nor a
 * thread forever.
 */
final class BoundedRead {
  private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "bonestream-blob-deadlines");
    t.setDaemon(true);
    return t;
  });

  private BoundedRead() {}

  static byte[] read(InputStream in, long maxBytes, Duration timeout, String what) throws IOException {
    AtomicBoolean late = new AtomicBoolean();
    ScheduledFuture<?> deadline = TIMER.schedule(() -> {
      late.set(true);
      try {
        in.close();
      } catch (IOException ignored) {
        // closing is all that is wanted
      }
    }, timeout.toMillis(), TimeUnit.MILLISECONDS);
    ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(maxBytes, 1 << 16));
    byte[] buf = new byte[1 << 16];
    try {
      long total = 0;
      for (int n; (n = in.read(buf)) >= 0; ) {
        total += n;
        if (total > maxBytes) {
          throw new BlobFetchException(what + " has more than the " + maxBytes + " bytes expected");
        }
        out.write(buf, 0, n);
      }
      if (late.get()) {
        throw late(what, timeout);
      }
      return out.toByteArray();
    } catch (IOException e) {
      if (late.get() && !(e instanceof BlobFetchException)) {
        throw late(what, timeout);
      }
      throw e;
    } finally {
      deadline.cancel(false);
    }
  }

  private static BlobFetchException late(String what, Duration timeout) {
    return new BlobFetchException(what + " was not read within " + timeout.toMillis() + " ms");
  }
}
