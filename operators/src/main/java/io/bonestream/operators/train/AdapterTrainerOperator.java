package io.bonestream.operators.train;

import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.TrainingItem;
import java.util.List;
import java.util.stream.Stream;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.KeyedStateBackend;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;

/**
 * Runs {@link AdapterTrainer} and writes the training state of every adapter trained since the
 * last snapshot into its keyed state when a checkpoint or savepoint is taken (or when its trainer
 * is evicted from the cache, under that adapter's key), before the keyed
 * state backend snapshots it: a step costs no copy of the adapter and its optimizer moments, and
 * each checkpoint still holds every adapter's state as of the checkpoint barrier (the records
 * before it trained, none after), which is what exactly-once recovery restores.
 */
public final class AdapterTrainerOperator extends KeyedProcessOperator<String, TrainingItem, EncodedRecord> {
  private static final long serialVersionUID = 1L;

  public AdapterTrainerOperator(AdapterTrainer trainer) {
    super(trainer);
  }

  @Override
  public void open() throws Exception {
    // a trainer evicted from the cache writes its unsaved state under its own key, then the key of
    // the record being processed is current again
    int maxParallelism = getRuntimeContext().getTaskInfo().getMaxNumberOfParallelSubtasks();
    ((AdapterTrainer) getUserFunction()).keys(new AdapterTrainer.Keys() {
      @Override
      public void underKey(String key, AdapterTrainer.StateAction action) throws Exception {
        Object current = getCurrentKey();
        setCurrentKey(key);
        try {
          action.run();
        } finally {
          setCurrentKey(current);
        }
      }

      @Override
      public List<String> inKeyGroup(int group) {
        // every adapter has progress state from its first record or request on
        KeyedStateBackend<String> backend = getKeyedStateBackend();
        try (Stream<String> all = backend.getKeys(AdapterTrainer.progressDescriptor().getName(),
            VoidNamespace.INSTANCE)) {
          return all.filter(k -> KeyGroupRangeAssignment.assignToKeyGroup(k, maxParallelism) == group).sorted().toList();
        }
      }
    });
    super.open();
  }

  @Override
  public void snapshotState(StateSnapshotContext context) throws Exception {
    AdapterTrainer trainer = (AdapterTrainer) getUserFunction();
    for (String id : trainer.unsavedAdapters()) {
      setCurrentKey(id);
      trainer.writeTrainingState(id);
    }
    super.snapshotState(context);
  }
}
