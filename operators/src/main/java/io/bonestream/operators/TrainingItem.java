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
  /** The user the example belongs to (its metadata's {@code user_id}), for erasure; null when none. */
  public String userId;
  /**
   * Set on an erasure request instead of an example (docs/continual.md): the adapter forgets its
   * kept examples with this example id, or of this user; null when not asked.
   */
  public String eraseExampleId;
  public String eraseUserId;
  /** An erasure that also asks the adapter to retrain from its last version without them. */
  public boolean eraseRetrain;
  /**
   * A signed request's id (64 bits of the SHA-256 of the bytes its signature covers; 0: unsigned),
   * when it was issued, and after when no copy of it is accepted (epoch milliseconds): the trainer
   * acts on each signed request once.
   */
  public long requestId;
  public long requestIssuedAt;
  public long requestExpiresAt;

  public TrainingItem() {}

  /** An erasure request for {@code adapterId}: by example id or by user id (one of them non-null). */
  public static TrainingItem erasure(String adapterId, String exampleId, String userId, boolean retrain,
      String topic, int partition, long offset) {
    TrainingItem i = new TrainingItem(adapterId, "", new int[0], new int[0], 0f, Long.MIN_VALUE, topic, partition,
        offset);
    i.eraseExampleId = exampleId;
    i.eraseUserId = userId;
    i.eraseRetrain = retrain;
    return i;
  }

  /** A copy of this erasure request for adapter {@code id} (the same request: coordinates, signature's id and times). */
  public TrainingItem forAdapter(String id) {
    TrainingItem i = erasure(id, eraseExampleId, eraseUserId, eraseRetrain, topic, partition, offset);
    i.requestId = requestId;
    i.requestIssuedAt = requestIssuedAt;
    i.requestExpiresAt = requestExpiresAt;
    i.original = original;
    i.originalKey = originalKey;
    return i;
  }

  /** Whether this is an erasure request rather than an example. */
  public boolean isErasure() {
    return eraseExampleId != null || eraseUserId != null;
  }

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
