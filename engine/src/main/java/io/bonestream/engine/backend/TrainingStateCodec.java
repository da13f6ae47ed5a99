package io.bonestream.engine.backend;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.util.Json;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.ScheduleKind;
import io.bonestream.engine.config.TrainConfig;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The binary form of a training state ({@link TrainingState}; {@code TrainingStateCodec} gives the
 * same bytes for its ND4J form), round-tripping bit-exactly. No ND4J:
 *
 * <pre>
 * "BSTS"  u16 format version (1)
 * u32 length + UTF-8 JSON header: adapter and train configs, fingerprint, counters, RNG state
 * u32 tensor count, then per tensor: u16 length + UTF-8 name, u8 dtype (0 float32, 1 float64),
 *     u8 rank, i64 dims, the values little-endian
 * </pre>
 */
public final class TrainingStateCodec {
  private static final byte[] MAGIC = {'B', 'S', 'T', 'S'};
  public static final int FORMAT_VERSION = 1;

  private TrainingStateCodec() {}

  public static byte[] encode(TrainingState s) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream((int) tensorBytes(s) + 4096);
      DataOutputStream out = new DataOutputStream(bytes);
      out.write(MAGIC);
      out.writeShort(FORMAT_VERSION);
      byte[] header = Json.toCompactString(header(s)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
      out.writeInt(header.length);
      out.write(header);
      out.writeInt(s.tensors().size());
      for (Map.Entry<String, HostTensor> e : s.tensors().entrySet()) {
        HostTensor t = e.getValue();
        out.writeUTF(e.getKey());
        boolean dbl = t.isDouble();
        out.writeByte(dbl ? 1 : 0);
        out.writeByte(t.shape().length);
        for (long d : t.shape()) {
          out.writeLong(d);
        }
        ByteBuffer buf = ByteBuffer.allocate((int) (t.length() * (dbl ? 8 : 4))).order(ByteOrder.LITTLE_ENDIAN);
        if (dbl) {
          buf.asDoubleBuffer().put(t.doubles());
        } else {
          buf.asFloatBuffer().put(t.floats());
        }
        out.write(buf.array());
      }
      out.flush();
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public static TrainingState decode(byte[] data) {
    try {
      DataInputStream in = new DataInputStream(new ByteArrayInputStream(data));
      byte[] magic = new byte[4];
      in.readFully(magic);
      if (!java.util.Arrays.equals(magic, MAGIC)) {
        throw new BonestreamException("not a bonestream training state (bad magic)");
      }
      int version = in.readUnsignedShort();
      if (version != FORMAT_VERSION) {
        throw new BonestreamException("training state format version " + version
            + " is not supported (this build reads version " + FORMAT_VERSION + ")");
      }
      byte[] header = new byte[in.readInt()];
      in.readFully(header);
      JsonNode h = Json.MAPPER.readTree(header);
      int count = in.readInt();
      Map<String, HostTensor> tensors = new LinkedHashMap<>();
      for (int i = 0; i < count; i++) {
        String name = in.readUTF();
        boolean dbl = in.readByte() == 1;
        long[] shape = new long[in.readUnsignedByte()];
        long n = 1;
        for (int d = 0; d < shape.length; d++) {
          shape[d] = in.readLong();
          n *= shape[d];
        }
        byte[] raw = new byte[(int) (n * (dbl ? 8 : 4))];
        in.readFully(raw);
        ByteBuffer buf = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        if (dbl) {
          double[] v = new double[(int) n];
          buf.asDoubleBuffer().get(v);
          tensors.put(name, HostTensor.ofDoubles(v, shape));
        } else {
          float[] v = new float[(int) n];
          buf.asFloatBuffer().get(v);
          tensors.put(name, HostTensor.of(v, shape));
        }
      }
      return new TrainingState(adapterConfig(h.path("adapter")), trainConfig(h.path("train")),
          h.path("base_fingerprint").asText(), h.path("step").asLong(), h.path("updates").asLong(),
          h.path("skipped_steps").asLong(), h.path("rng_state").asLong(),
          h.path("tokens_seen").asLong(), h.path("examples_seen").asLong(), tensors);
    } catch (EOFException e) {
      throw new BonestreamException("truncated training state");
    } catch (IOException e) {
      throw new BonestreamException("corrupt training state: " + e.getMessage());
    }
  }

  /** Bytes of tensor data (the bulk of the encoded size). */
  public static long tensorBytes(TrainingState s) {
    long n = 0;
    for (HostTensor t : s.tensors().values()) {
      n += t.length() * (t.isDouble() ? 8 : 4);
    }
    return n;
  }

  private static ObjectNode header(TrainingState s) {
    ObjectNode h = Json.MAPPER.createObjectNode();
    h.set("adapter", adapterConfigJson(s.adapterConfig()));
    h.set("train", trainConfigJson(s.trainConfig()));
    h.put("base_fingerprint", s.baseFingerprint());
    h.put("step", s.step());
    h.put("updates", s.updates());
    h.put("skipped_steps", s.skippedSteps());
    h.put("rng_state", s.rngState());
    h.put("tokens_seen", s.tokensSeen());
    h.put("examples_seen", s.examplesSeen());
    return h;
  }

  public static ObjectNode adapterConfigJson(AdapterConfig a) {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("method", a.method().id());
    n.put("r", a.r());
    var targets = n.putArray("target_modules");
    a.targetModuleNames().forEach(targets::add);
    n.put("lora_alpha", a.loraAlpha());
    if (a.method() == AdapterMethod.MINI) {
      n.put("mini_r", a.miniR()); // only for mini: every other state's bytes stay as they were
    }
    return n;
  }

  public static AdapterConfig adapterConfig(JsonNode n) {
    List<String> targets = new ArrayList<>();
    n.path("target_modules").forEach(t -> targets.add(t.asText()));
    return AdapterConfig.builder().method(AdapterMethod.fromId(n.path("method").asText()))
        .r(n.path("r").asInt()).targetModules(targets).loraAlpha(n.path("lora_alpha").asDouble()).miniR(n.path("mini_r").asInt(1))
        .build();
  }

  public static ObjectNode trainConfigJson(TrainConfig c) {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("optimizer", c.optimizer().id());
    n.put("lr", c.lr());
    n.put("weight_decay", c.weightDecay());
    n.put("beta1", c.beta1());
    n.put("beta2", c.beta2());
    n.put("eps", c.eps());
    n.put("max_grad_norm", c.maxGradNorm());
    n.put("schedule", c.schedule().id());
    n.put("warmup_steps", c.warmupSteps());
    n.put("total_steps", c.totalSteps());
    n.put("batch_size", c.batchSize());
    n.put("grad_accum", c.gradAccum());
    n.put("max_seq_len", c.maxSeqLen());
    n.put("seed", c.seed());
    if (c.scheduleStart() != 0) {
      // only when re-warmed: a state that never was encodes exactly as earlier builds wrote it
      n.put("schedule_start", c.scheduleStart());
    }
    return n;
  }

  public static TrainConfig trainConfig(JsonNode n) {
    return TrainConfig.builder()
        .optimizer(OptimizerKind.fromId(n.path("optimizer").asText()))
        .lr(n.path("lr").asDouble())
        .weightDecay(n.path("weight_decay").asDouble())
        .beta1(n.path("beta1").asDouble())
        .beta2(n.path("beta2").asDouble())
        .eps(n.path("eps").asDouble())
        .maxGradNorm(n.path("max_grad_norm").asDouble())
        .schedule(ScheduleKind.fromId(n.path("schedule").asText()))
        .warmupSteps(n.path("warmup_steps").asLong())
        .totalSteps(n.path("total_steps").asLong())
        .batchSize(n.path("batch_size").asInt())
        .gradAccum(n.path("grad_accum").asInt())
        .maxSeqLen(n.path("max_seq_len").asInt())
        .seed(n.path("seed").asLong())
        .scheduleStart(n.path("schedule_start").asLong(0)) // absent in states of earlier builds
        .build();
  }
}
