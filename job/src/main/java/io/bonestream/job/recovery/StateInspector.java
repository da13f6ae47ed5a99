package io.bonestream.job.recovery;

import io.bonestream.core.BonestreamException;
import io.bonestream.operators.train.AdapterStateSummary;
import io.bonestream.operators.train.AdapterTrainer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.state.api.OperatorIdentifier;
import org.apache.flink.state.api.SavepointReader;
import org.apache.flink.state.api.functions.KeyedStateReaderFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;

/**
 * Reads, with Flink's State Processor API, what a checkpoint or savepoint holds for each adapter
 * ({@link AdapterStateSummary}), without restoring the job: so that {@code run} can say what it
 * restores and refuse a checkpoint made on another base model before starting.
 */
public final class StateInspector {
  private StateInspector() {}

  /**
   * The adapters in {@code point}, by id. {@code stateBackend} is the job's
   * {@code state.backend.type} (a native checkpoint is read by the backend that wrote it).
   */
  public static List<AdapterStateSummary> adapters(RestorePoint point, String stateBackend) {
    Configuration conf = new Configuration();
    conf.setString("state.backend.type", stateBackend);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(1, conf);
    List<AdapterStateSummary> out = new ArrayList<>();
    try {
      SavepointReader reader = SavepointReader.read(env, point.path());
      try (CloseableIterator<AdapterStateSummary> it = reader.readKeyedState(
          OperatorIdentifier.forUid(AdapterTrainer.UID), new Summaries(), Types.STRING,
          TypeInformation.of(AdapterStateSummary.class)).executeAndCollect("bonestream: inspect " + point.name())) {
        it.forEachRemaining(out::add);
      }
    } catch (Exception e) {
      throw new BonestreamException("cannot read " + point.describe() + " at " + point.path() + ": "
          + rootMessage(e));
    }
    out.sort(Comparator.comparing(AdapterStateSummary::adapterId));
    return out;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage().split("\n")[0]);
  }

  /** One summary per adapter key of the training operator. */
  static final class Summaries extends KeyedStateReaderFunction<String, AdapterStateSummary> {
    private transient ValueState<byte[]> progress;
    private transient ValueState<byte[]> training;

    @Override
    public void open(OpenContext context) {
      progress = getRuntimeContext().getState(AdapterTrainer.progressDescriptor());
      training = getRuntimeContext().getState(AdapterTrainer.trainingStateDescriptor());
    }

    @Override
    public void readKey(String key, Context ctx, Collector<AdapterStateSummary> out) throws Exception {
      out.collect(AdapterStateSummary.of(key, progress.value(), training.value()));
    }
  }
}
