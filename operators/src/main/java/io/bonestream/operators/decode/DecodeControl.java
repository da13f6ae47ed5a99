package io.bonestream.operators.decode;

import io.bonestream.operators.EveryAdapter;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Reads the control topic ({@link ControlRecords}): each valid request becomes an erasure
 * {@link TrainingItem} for its adapter's trainer (a request to every adapter: one copy per key group of
 * the trainer, {@link EveryAdapter}); any other record goes to
 * {@link DecodeInstructions#DEAD_LETTERS} as {@link DeadLetterReason#INVALID_CONTROL_RECORD}. Never fails on input.
 */
public final class DecodeControl extends ProcessFunction<KafkaInput, TrainingItem> {
  private final ControlTrust trust;
  private final int maxParallelism;
  private transient ControlTrust.Verifier verifier;
  private transient List<String> everyAdapterKeys;
  private transient Counter accepted;
  private transient Counter refused;

  /**
   * Acting on the requests {@code trust} accepts (signed, where it has keys), for a trainer of max
   * parallelism {@code maxParallelism}.
   */
  public DecodeControl(ControlTrust trust, int maxParallelism) {
    this.trust = trust;
    this.maxParallelism = maxParallelism;
  }

  @Override
  public void open(OpenContext context) {
    verifier = trust.verifier();
    everyAdapterKeys = EveryAdapter.keys(maxParallelism);
    var group = getRuntimeContext().getMetricGroup();
    accepted = group.counter("control_records_accepted");
    refused = group.counter("control_records_refused");
  }

  @Override
  public void processElement(KafkaInput in, Context ctx, Collector<TrainingItem> out) {
    TrainingItem item;
    try {
      try {
        item = ControlRecords.decode(in, verifier);
      } catch (RuntimeException e) {
        throw new Rejected(DeadLetterReason.UNEXPECTED, "cannot decode: " + e);
      }
    } catch (Rejected r) {
      refused.inc();
      ctx.output(DecodeInstructions.DEAD_LETTERS, DecodeInstructions.deadLetter(in.value, in.key, in.topic,
          in.partition, in.offset, r.reason(), r.getMessage(), ctx.timerService().currentProcessingTime()));
      return;
    }
    item.original = in.value; // for the dead-letter topic, should the trainer turn the request away
    item.originalKey = in.key;
    if (item.adapterId.equals(EveryAdapter.ID)) {
      for (String key : everyAdapterKeys) {
        out.collect(item.forAdapter(key));
      }
    } else {
      out.collect(item);
    }
    accepted.inc();
  }
}
