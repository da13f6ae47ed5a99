package io.bonestream.operators.decode;

import io.bonestream.core.BonestreamException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

/**
 * The writer's side of the {@code avro-registry} format (for {@code bonestream produce}): registers a
 * schema with a registry under a subject and frames records in the Confluent wire format (magic byte
 * 0, the schema id in 4 big-endian bytes, the Avro binary).
 */
public final class RegistryWriter implements AutoCloseable {
  private final SchemaRegistryClient client;
  private final Schema schema;
  private final int id;

  private RegistryWriter(SchemaRegistryClient client, Schema schema, int id) {
    this.client = client;
    this.schema = schema;
    this.id = id;
  }

  /** Registers {@code schema} under {@code subject} (the registry answers the existing id if it has it). */
  public static RegistryWriter open(RegistrySettings settings, String subject, Schema schema) {
    SchemaRegistryClient c = new SchemaRegistryClient(settings);
    try {
      return new RegistryWriter(c, schema, c.register(subject, schema));
    } catch (Rejected r) {
      c.close();
      throw new BonestreamException(r.getMessage());
    }
  }

  public byte[] frame(Object datum) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      out.write(0);
      out.write(ByteBuffer.allocate(4).putInt(id).array());
      BinaryEncoder e = EncoderFactory.get().binaryEncoder(out, null);
      new SpecificDatumWriter<>(schema).write(datum, e); // generic records too; logical types as generated
      e.flush();
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    client.close();
  }
}
