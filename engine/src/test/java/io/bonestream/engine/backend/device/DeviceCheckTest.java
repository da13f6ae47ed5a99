package io.bonestream.engine.backend.device;

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
}
