package io.bonestream.operators.decode;

import io.bonestream.core.BonestreamException;

/** How the records of an instructions topic are encoded. */
public enum InputFormat {
  /** Avro single-object encoding of {@code InstructionRecord} (what {@code bonestream produce} writes by default). */
  AVRO("avro"),
  /** Avro in the Confluent wire format (magic byte, 4-byte schema id), its schema from a registry. */
  AVRO_REGISTRY("avro-registry"),
  /** UTF-8 JSON objects of any {@link io.bonestream.engine.data.RecordShape}. */
  JSON("json");

  private final String id;

  InputFormat(String id) {
    this.id = id;
  }

  public String id() {
    return id;
  }

  public static InputFormat fromId(String id) {
    for (InputFormat f : values()) {
      if (f.id.equals(id)) {
        return f;
      }
    }
    throw new BonestreamException("unknown input format '" + id + "' (known: avro, avro-registry, json)");
  }
}
