package io.bonestream.operators.train;

import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.TrainingItem;
import org.apache.flink.runtime.state.StateSnapshotContext;
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
    ((AdapterTrainer) getUserFunction()).keySwitch((key, action) -> {
      Object current = getCurrentKey();
      setCurrentKey(key);
      try {
        action.run();
      } finally {
        setCurrentKey(current);
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
