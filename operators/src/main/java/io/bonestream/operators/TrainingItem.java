package io.bonestream.operators;

/**
 * A validated, tokenized training example on its way to its adapter's trainer, with the Kafka
 * coordinates it came from (for lineage). A Flink POJO: public fields, no-argument constructor.
 */
public class TrainingItem {
  public String adapterId;
  public String exampleId;
  public int[] inputIds;
  public int[] labels;
  public float weight;
  /** Event time in epoch milliseconds, or {@link Long#MIN_VALUE} when the record has none. */
  public long eventTime;
  public String topic;
  public int partition;
  public long offset;
  /** The record's bytes and key as read, for the dead-letter topic if a quota turns it away later. */
  public byte[] original;
  public byte[] originalKey;

  public TrainingItem() {}

  public TrainingItem(String adapterId, String exampleId, int[] inputIds, int[] labels, float weight,
      long eventTime, String topic, int partition, long offset) {
    this.adapterId = adapterId;
    this.exampleId = exampleId;
    this.inputIds = inputIds;
    this.labels = labels;
    this.weight = weight;
    this.eventTime = eventTime;
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
  }

  /** Forgets the record's bytes once no dead letter can need them (buffered or held-out items live in state). */
  public void dropOriginal() {
    original = null;
    originalKey = null;
  }

  public boolean hasEventTime() {
    return eventTime != Long.MIN_VALUE;
  }
}
