package io.bonestream.schemas;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.Signature;
import java.util.HexFormat;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;

/**
 * Ed25519 signatures of manifests. The signed message is
 * {@code "bonestream-manifest-v1\n" + payload digest + "\n" + manifest bytes}, where the manifest
 * bytes are its single-object encoding with {@code signature} null (and {@code signature_key_id}
 * set), in the schema version it was written with, and the payload digest is
 * {@code sha256(weights):sha256(config)} of the adapter, inline or claim-checked. A verifier
 * rebuilds those bytes with the writer's schema, so a reader of a newer schema verifies older
 * manifests and the other way round. Ed25519 is deterministic: the same manifest gives the same
 * signature, so replays stay byte-exact.
 */
public final class ManifestSignatures {
  private static final byte[] DOMAIN = "bonestream-manifest-v1\n".getBytes(StandardCharsets.UTF_8);
  private static final byte[] HEADER = {(byte) 0xC3, 0x01};

  /** What a check of one manifest found. */
  public enum Verdict { VALID, UNSIGNED, UNKNOWN_KEY, BAD_SIGNATURE, INVALID }

  /** A verdict with the key id the manifest named (null when unsigned). */
  public record Check(Verdict verdict, String keyId) {}

  private ManifestSignatures() {}

  /** The manifest with its key id and signature set. */
  public static AdapterSnapshot sign(AdapterSnapshot manifest, SigningKeys.Signer signer) {
    AdapterSnapshot unsigned = AdapterSnapshot.newBuilder(manifest).setSignature(null)
        .setSignatureKeyId(signer.keyId()).build();
    byte[] message = message(AdapterSnapshots.encode(unsigned));
    try {
      Signature s = Signature.getInstance("Ed25519");
      s.initSign(signer.privateKey());
      s.update(message);
      return AdapterSnapshot.newBuilder(unsigned).setSignature(ByteBuffer.wrap(s.sign())).build();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot sign with " + signer, e);
    }
  }

  /** Checks the signature of an encoded manifest against trusted keys (by key id). */
  public static Check verify(byte[] encodedManifest, Map<String, PublicKey> trusted) {
    GenericRecord r;
    Schema writer;
    try {
      writer = writerSchema(encodedManifest);
      r = read(encodedManifest, writer);
    } catch (IOException | RuntimeException e) {
      return new Check(Verdict.INVALID, null);
    }
    Object sig = r.get("signature");
    Object keyId = r.get("signature_key_id");
    if (sig == null || keyId == null) {
      return new Check(Verdict.UNSIGNED, keyId == null ? null : keyId.toString());
    }
    PublicKey key = trusted.get(keyId.toString());
    if (key == null) {
      return new Check(Verdict.UNKNOWN_KEY, keyId.toString());
    }
    r.put("signature", null);
    byte[] signature = bytes((ByteBuffer) sig);
    try {
      Signature s = Signature.getInstance("Ed25519");
      s.initVerify(key);
      s.update(message(write(r, writer)));
      return new Check(s.verify(signature) ? Verdict.VALID : Verdict.BAD_SIGNATURE, keyId.toString());
    } catch (GeneralSecurityException | RuntimeException e) {
      return new Check(Verdict.BAD_SIGNATURE, keyId.toString());
    }
  }

  /** The signed message of an encoded manifest whose signature field is null. */
  static byte[] message(byte[] unsignedManifest) {
    try {
      Schema writer = writerSchema(unsignedManifest);
      GenericRecord r = read(unsignedManifest, writer);
      byte[] digest = payloadDigest(r).getBytes(StandardCharsets.UTF_8);
      ByteArrayOutputStream out = new ByteArrayOutputStream(DOMAIN.length + digest.length + 1 + unsignedManifest.length);
      out.write(DOMAIN);
      out.write(digest);
      out.write('\n');
      out.write(unsignedManifest);
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String payloadDigest(GenericRecord manifest) {
    GenericRecord p = (GenericRecord) manifest.get("payload");
    if (p.getSchema().getName().equals("InlineAdapter")) {
      return sha256(bytes((ByteBuffer) p.get("adapter_model_safetensors"))) + ":"
          + sha256(p.get("adapter_config_json").toString().getBytes(StandardCharsets.UTF_8));
    }
    return p.get("sha256") + ":" + p.get("config_sha256");
  }

  /** Every manifest schema version by its fingerprint, read once (signing and verifying look one up per manifest). */
  private static final java.util.Map<Long, Schema> WRITER_SCHEMAS = writerSchemas();

  private static java.util.Map<Long, Schema> writerSchemas() {
    java.util.Map<Long, Schema> m = new java.util.HashMap<>();
    for (int n = 1; ; n++) {
      Schema s;
      try {
        s = AdapterSnapshots.schemaVersion(n);
      } catch (IllegalArgumentException noMore) {
        return java.util.Map.copyOf(m);
      }
      m.put(SchemaNormalization.parsingFingerprint64(s), s);
    }
  }

  private static Schema writerSchema(byte[] encoded) {
    if (encoded.length < 10 || encoded[0] != HEADER[0] || encoded[1] != HEADER[1]) {
      throw new IllegalArgumentException("not Avro single-object encoded");
    }
    long fingerprint = ByteBuffer.wrap(encoded, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    Schema s = WRITER_SCHEMAS.get(fingerprint);
    if (s == null) {
      throw new IllegalArgumentException("unknown manifest schema");
    }
    return s;
  }

  private static GenericRecord read(byte[] encoded, Schema writer) throws IOException {
    return new GenericDatumReader<GenericRecord>(writer).read(null,
        DecoderFactory.get().binaryDecoder(encoded, 10, encoded.length - 10, null));
  }

  private static byte[] write(GenericRecord r, Schema writer) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      out.write(HEADER);
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
          .putLong(SchemaNormalization.parsingFingerprint64(writer)).array());
      BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
      new GenericDatumWriter<GenericRecord>(writer, GenericData.get()).write(r, enc);
      enc.flush();
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static byte[] bytes(ByteBuffer b) {
    ByteBuffer d = b.duplicate();
    byte[] out = new byte[d.remaining()];
    d.get(out);
    return out;
  }

  private static String sha256(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

}
