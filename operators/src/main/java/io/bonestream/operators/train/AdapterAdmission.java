package io.bonestream.operators.train;

import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.decode.DeadLetterReason;
import io.bonestream.operators.decode.DecodeInstructions;
import java.util.List;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The job-wide cap on distinct adapters ({@link Quotas#maxAdapters()}): keyed by adapter id and run
 * with parallelism 1, so that one count covers the whole job. The first {@code maxAdapters}
 * adapters pass; records of any other go to the dead-letter topic. Only in the job when a cap is
 * set.
 */
public final class AdapterAdmission extends KeyedProcessFunction<String, TrainingItem, TrainingItem>
    implements CheckpointedFunction {
  private final int maxAdapters;
  private transient ValueState<Boolean> admitted;
  private transient ListState<Long> countState;
  private transient long count;
  private transient Counter refused;

  public AdapterAdmission(int maxAdapters) {
    this.maxAdapters = maxAdapters;
  }

  @Override
  public void open(org.apache.flink.api.common.functions.OpenContext context) {
    admitted = getRuntimeContext().getState(new ValueStateDescriptor<>("admitted", Types.BOOLEAN));
    refused = getRuntimeContext().getMetricGroup().counter("adapters_refused");
    getRuntimeContext().getMetricGroup().gauge("adapters_admitted",
        (org.apache.flink.metrics.Gauge<Long>) () -> count);
  }

  @Override
  public void processElement(TrainingItem item, Context ctx, Collector<TrainingItem> out) throws Exception {
    if (admitted.value() == null) {
      if (count >= maxAdapters) {
        refused.inc();
        ctx.output(DecodeInstructions.DEAD_LETTERS, DecodeInstructions.deadLetter(item.original, item.originalKey,
            item.topic, item.partition, item.offset, DeadLetterReason.OVER_ADAPTER_LIMIT, "adapter '"
                + item.adapterId + "' is new and the job already trains its maximum of " + maxAdapters
                + " adapters", ctx.timerService().currentProcessingTime()));
        return;
      }
      admitted.update(true);
      count++;
    }
    out.collect(item);
  }

  @Override
  public void snapshotState(FunctionSnapshotContext context) throws Exception {
    countState.update(List.of(count));
  }

  @Override
  public void initializeState(FunctionInitializationContext context) throws Exception {
    countState = context.getOperatorStateStore().getListState(new ListStateDescriptor<>("admitted-count", Types.LONG));
    count = 0;
    for (Long c : countState.get()) {
      count += c;
    }
  }
}
