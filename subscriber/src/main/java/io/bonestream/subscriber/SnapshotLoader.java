package io.bonestream.subscriber;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.peft.PeftAdapter;
import io.bonestream.core.util.Hashes;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ClaimCheck;
import io.bonestream.schemas.InlineAdapter;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.function.LongConsumer;

/**
 * Turns a manifest into a served {@link AdapterVersion}, or refuses it: fetches a claim check's blob
 * and checks its SHA-256 and size, checks the base model's fingerprint, loads the PEFT files,
 * refuses NaN or infinite values, then runs the extra verifier.
 */
final class SnapshotLoader {
  private final HostModel base;
  private final Map<String, BlobFetcher> fetchers;
  private final SnapshotVerifier verifier;
  private final LongConsumer bytesFetched;

  SnapshotLoader(HostModel base, Map<String, BlobFetcher> fetchers, SnapshotVerifier verifier,
      LongConsumer bytesFetched) {
    this.base = base;
    this.fetchers = Map.copyOf(fetchers);
    this.verifier = verifier;
    this.bytesFetched = bytesFetched;
  }

  AdapterVersion load(AdapterSnapshot m) throws SnapshotRefusedException {
    String name = m.getAdapterId() + "@" + m.getVersion();
    if (!m.getBaseModel().getWeightsSha256().equals(base.fingerprint())) {
      throw new SnapshotRefusedException(RefusalReason.BASE_MODEL_MISMATCH, name + " was trained on base "
          + m.getBaseModel().getName() + " (" + abbreviate(m.getBaseModel().getWeightsSha256())
          + "), not on " + base.name() + " (" + abbreviate(base.fingerprint()) + ")");
    }
    String config;
    byte[] weights;
    if (m.getPayload() instanceof InlineAdapter in) {
      config = in.getAdapterConfigJson();
      weights = bytes(in.getAdapterModelSafetensors());
    } else if (m.getPayload() instanceof ClaimCheck cc) {
      URI dir = URI.create(cc.getUri().endsWith("/") ? cc.getUri() : cc.getUri() + "/");
      // never more than the signed manifest announces (a config is small)
      weights = fetch(dir.resolve("adapter_model.safetensors"), cc.getSize(), name);
      byte[] cfg = fetch(dir.resolve("adapter_config.json"), MAX_CONFIG_BYTES, name);
      if (weights.length != cc.getSize() || !Hashes.sha256Hex(weights).equals(cc.getSha256())
          || !Hashes.sha256Hex(cfg).equals(cc.getConfigSha256())) {
        throw new SnapshotRefusedException(RefusalReason.TAMPERED, name + ": the blob at " + cc.getUri()
            + " does not match the SHA-256 of its manifest");
      }
      config = new String(cfg, StandardCharsets.UTF_8);
    } else {
      throw new SnapshotRefusedException(RefusalReason.INVALID_MANIFEST, name + ": no payload");
    }
    PeftAdapter adapter;
    try {
      adapter = PeftAdapter.read(config, weights, base, name);
    } catch (BonestreamException e) {
      RefusalReason reason = e.getMessage().contains("another base model")
          ? RefusalReason.BASE_MODEL_MISMATCH : RefusalReason.INVALID_ADAPTER;
      throw new SnapshotRefusedException(reason, name + ": " + e.getMessage());
    }
    Optional<String> nonFinite = adapter.firstNonFinite();
    if (nonFinite.isPresent()) {
      throw new SnapshotRefusedException(RefusalReason.NON_FINITE, name + ": tensor " + nonFinite.get()
          + " holds NaN or infinite values");
    }
    verifier.verify(m, config, weights);
    // only the bytes are kept: the tensors are read again if and when a caller asks for them
    return new AdapterVersion(m.getAdapterId(), m.getVersion(), m.getCreatedAt(), m.getMethod(), m.getR(),
        m.getTargetModules(), m.getStats(), base, config, weights);
  }

  /** The largest {@code adapter_config.json} read from a blob store. */
  static final long MAX_CONFIG_BYTES = 1 << 20;

  private byte[] fetch(URI uri, long maxBytes, String name) throws SnapshotRefusedException {
    BlobFetcher f = fetchers.get(uri.getScheme() == null ? "file" : uri.getScheme());
    if (f == null) {
      throw new SnapshotRefusedException(RefusalReason.MISSING_BLOB, name + ": no fetcher for "
          + uri.getScheme() + " URIs (" + uri + ")");
    }
    try {
      if (maxBytes < 0) {
        throw new BlobFetchException("the manifest announces " + maxBytes + " bytes");
      }
      byte[] b = f.fetch(uri, maxBytes);
      bytesFetched.accept(b.length);
      return b;
    } catch (IOException | RuntimeException e) {
      throw new SnapshotRefusedException(RefusalReason.MISSING_BLOB, name + ": cannot fetch " + uri + ": "
          + (e instanceof BlobFetchException ? e.getMessage() : e.toString()));
    }
  }

  static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  private static String abbreviate(String h) {
    return h.length() > 12 ? h.substring(0, 12) : h;
  }
}
