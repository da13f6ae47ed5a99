package io.bonestream.engine.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.device.Buf;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The device check itself: the reference passes against itself, and a wrong device fails it. */
class DeviceCheckTest {
  @Test
  void theReferenceDevicePasses() {
    List<DeviceCheck.Outcome> out = DeviceCheck.run(new JavaDevice());
    assertTrue(out.size() > 60, "only " + out.size() + " checks");
    for (DeviceCheck.Outcome o : out) {
      assertTrue(o.ok(), o.toString());
    }
  }

  @Test
  void aDeviceWithAWrongKernelFails() {
    JavaDevice wrong = new JavaDevice() {
      @Override
      public void swiglu(Buf gate, Buf up, Buf out, long n) {
        super.swiglu(up, gate, out, n); // arguments swapped
      }
    };
    long failed = DeviceCheck.run(wrong).stream().filter(o -> !o.ok()).count();
    assertTrue(failed >= 2, "a swapped swiglu went unnoticed");
  }

  /** A device that takes a checkpoint's bytes from the buffer's start, not from its position. */
  @Test
  void aWrongByteUploadFails() {
    JavaDevice fromStart = new JavaDevice() {
      @Override
      public void uploadBytes(java.nio.ByteBuffer src, Buf dst) {
        java.nio.ByteBuffer whole = src.duplicate();
        whole.position(0);
        super.uploadBytes(whole.slice(0, src.remaining()), dst);
      }
    };
    assertEquals(4, failing(fromStart, "uploadBytes"), "bytes from the wrong offset went unnoticed");
  }

  /** Attention with a wrong scale, and a backward pass whose probabilities miss the lse correction. */
  @Test
  void wrongAttentionFails() {
    JavaDevice wrongScale = new JavaDevice() {
      @Override
      public void attentionForward(Buf q, Buf k, Buf v, Buf out, Buf lse, int batch, int kvHeads, int group, int seq,
          int headDim, float scale) {
        super.attentionForward(q, k, v, out, lse, batch, kvHeads, group, seq, headDim, 1.01f * scale);
      }
    };
    assertTrue(failing(wrongScale, "attentionForward out") >= 5, "a wrong attention scale went unnoticed");
    assertTrue(failing(wrongScale, "attentionForward lse") >= 5, "a wrong attention scale went unnoticed in lse");
    JavaDevice noLse = new JavaDevice() {
      @Override
      public void attentionBackward(Buf q, Buf k, Buf v, Buf out, Buf dOut, Buf lse, Buf dq, Buf dk, Buf dv,
          int batch, int kvHeads, int group, int seq, int headDim, float scale) {
        Buf zero = alloc(lse.type(), lse.size()); // p = exp(s) instead of exp(s − lse)
        super.attentionBackward(q, k, v, out, dOut, zero, dq, dk, dv, batch, kvHeads, group, seq, headDim, scale);
      }
    };
    for (String op : new String[] {"attentionBackward dq", "attentionBackward dk", "attentionBackward dv"}) {
      assertTrue(failing(noLse, op) >= 8, op + ": a missing lse correction went unnoticed");
    }
    assertEquals(0, failing(noLse, "attentionForward"), "the forward pass is not the broken one");
  }

  private static long failing(JavaDevice device, String op) {
    return DeviceCheck.run(device).stream().filter(o -> o.op().startsWith(op) && !o.ok()).count();
  }
}
