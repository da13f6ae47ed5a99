package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFiles;
import io.bonestream.core.util.Hashes;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import io.bonestream.schemas.BaseModelRef;
import io.bonestream.schemas.ClaimCheck;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import io.bonestream.schemas.TrainingStats;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The S3 fetcher and the subscriber against a real S3 server: S3Proxy (jclouds' in-memory store)
 * in this JVM, checking every request's AWS Signature V4 with its own implementation. Blobs are put
 * through S3Proxy's store; manifests with claim checks on {@code s3://} go through the subscriber's
 * whole path from the record on (decode, signature, fetch, SHA-256, PEFT load, registry).
 */
class S3BlobFetcherIT {
  static final String ACCESS_KEY = "bonestream-it";
  static final String SECRET = "it-secret-0123456789";
  static final String BUCKET = "bonestream";
  static final HostModel BASE = TestModels.BASE;

  static BlobStoreContext context;
  static BlobStore store;
  static S3Proxy proxy;
  static String endpoint;

  @BeforeAll
  static void start() throws Exception {
    context = ContextBuilder.newBuilder("transient").credentials("identity", "credential")
        .build(BlobStoreContext.class);
    store = context.getBlobStore();
    store.createContainerInLocation(null, BUCKET);
    proxy = S3Proxy.builder().blobStore(store).endpoint(URI.create("http://127.0.0.1:0"))
        .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET).build();
    proxy.start();
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (!proxy.getState().equals("STARTED") && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertEquals("STARTED", proxy.getState());
    endpoint = "http://127.0.0.1:" + proxy.getPort();
  }

  @AfterAll
  static void stop() throws Exception {
    if (proxy != null) {
      proxy.stop();
    }
    if (context != null) {
      context.close();
    }
  }

  static void put(String key, byte[] bytes) {
    store.putBlob(BUCKET, store.blobBuilder(key).payload(bytes).contentLength(bytes.length).build());
  }

  static S3BlobFetcher fetcher(String secret) {
    return S3BlobFetcher.builder().endpoint(endpoint).credentials(S3Credentials.of(ACCESS_KEY, secret))
        .retries(0).build();
  }

  @Test
  void fetchesObjectsOfEveryFlinkScheme() throws Exception {
    byte[] small = "hello, claim check".getBytes(StandardCharsets.UTF_8);
    byte[] large = new byte[3 << 20];
    new Random(7).nextBytes(large);
    put("blobs/a/1/small.txt", small);
    put("blobs/a/1/large.bin", large);
    put("blobs/odd name/ü+=.bin", small);
    S3BlobFetcher f = fetcher(SECRET);
    assertTrue(f.pathStyle(), "an endpoint given: path-style");
    for (String scheme : List.of("s3", "s3a", "s3p")) {
      assertArrayEquals(small, f.fetch(URI.create(scheme + "://" + BUCKET + "/blobs/a/1/small.txt")));
    }
    assertArrayEquals(large, f.fetch(URI.create("s3://" + BUCKET + "/blobs/a/1/large.bin")));
    assertArrayEquals(small, f.fetch(new URI("s3", BUCKET, "/blobs/odd name/ü+=.bin", null)),
        "a key that needs encoding");
  }

  @Test
  void aWrongSecretIsTheStoresSignatureError() {
    put("blobs/a/2/x", new byte[] {1});
    BlobFetchException e = assertThrows(BlobFetchException.class,
        () -> fetcher(SECRET + "-wrong").fetch(URI.create("s3://" + BUCKET + "/blobs/a/2/x")));
    assertTrue(e.getMessage().startsWith("HTTP 403 SignatureDoesNotMatch"), e.getMessage());
    assertTrue(e.getMessage().contains("endpoint " + endpoint + ", region us-east-1, path-style"), e.getMessage());
    assertFalse(e.getMessage().contains(SECRET), "the secret is in the message: " + e.getMessage());
  }

  @Test
  void anUnknownKeyIdIsRefusedToo() {
    BlobFetchException e = assertThrows(BlobFetchException.class, () -> S3BlobFetcher.builder().endpoint(endpoint)
        .credentials(S3Credentials.of("nobody", SECRET)).retries(0).build()
        .fetch(URI.create("s3://" + BUCKET + "/blobs/a/2/x")));
    assertTrue(e.getMessage().startsWith("HTTP 403 InvalidAccessKeyId"), e.getMessage());
  }

  @Test
  void missingKeysAndBucketsAre404s() {
    BlobFetchException e = assertThrows(BlobFetchException.class,
        () -> fetcher(SECRET).fetch(URI.create("s3://" + BUCKET + "/blobs/none/1/x")));
    assertTrue(e.getMessage().startsWith("HTTP 404 NoSuchKey"), e.getMessage());
    e = assertThrows(BlobFetchException.class, () -> fetcher(SECRET).fetch(URI.create("s3://no-bucket/x")));
    assertTrue(e.getMessage().startsWith("HTTP 404 NoSuchBucket"), e.getMessage());
  }

  @Test
  void anObjectOverTheLimitIsNotRead() {
    put("blobs/a/3/big", new byte[4096]);
    BlobFetchException e = assertThrows(BlobFetchException.class, () -> S3BlobFetcher.builder().endpoint(endpoint)
        .credentials(S3Credentials.of(ACCESS_KEY, SECRET)).maxObjectSize(4095).build()
        .fetch(URI.create("s3://" + BUCKET + "/blobs/a/3/big")));
    assertTrue(e.getMessage().contains("4096 bytes, over the limit of 4095"), e.getMessage());
  }

  // ---- through the subscriber: manifests with claim checks on s3:// ----

  static final KeyPair KEYS = SigningKeys.generate();
  static final SigningKeys.Signer SIGNER = new SigningKeys.Signer(KEYS.getPrivate(), KEYS.getPublic(),
      SigningKeys.keyId(KEYS.getPublic()));

  /** Writes the adapter folder as the job's BlobStore does, and returns its signed manifest. */
  static AdapterSnapshot publish(String adapter, long version) {
    AdapterConfig config = AdapterConfig.builder().r(4).build();
    PeftExport.AdapterFiles files = TestModels.files(config, version);
    String dir = "blobs/" + adapter + "/" + version;
    byte[] cfg = files.configJson().getBytes(StandardCharsets.UTF_8);
    put(dir + "/" + PeftFiles.ADAPTER_WEIGHTS, files.weights());
    put(dir + "/" + PeftFiles.ADAPTER_CONFIG, cfg);
    AdapterSnapshot m = AdapterSnapshot.newBuilder().setAdapterId(adapter).setVersion(version)
        .setCreatedAt(Instant.now())
        .setBaseModel(BaseModelRef.newBuilder().setName(BASE.name()).setWeightsSha256(BASE.fingerprint()).build())
        .setTokenizerSha256("0".repeat(64)).setMethod(config.method().id()).setPeftType("MISS").setR(4)
        .setTargetModules(config.targetModuleNames())
        .setStats(TrainingStats.newBuilder().setStep(version).setTokens(0).setExamples(0).setSkippedSteps(0)
            .setLastLoss(1).setLossEma(1).build())
        .setLineage(List.of())
        .setPayload(ClaimCheck.newBuilder().setUri("s3://" + BUCKET + "/" + dir).setSize(files.weights().length)
            .setSha256(Hashes.sha256Hex(files.weights())).setConfigSha256(Hashes.sha256Hex(cfg)).build())
        .build();
    return ManifestSignatures.sign(m, SIGNER);
  }

  static List<AdapterUpdate> deliver(String secret, AdapterSnapshot... manifests) {
    AdapterSubscriber s = AdapterSubscriber.builder().bootstrapServers("unused:9092").baseModel(BASE)
        .trustedKey(KEYS.getPublic()).s3(fetcher(secret)).build();
    List<AdapterUpdate> updates = new ArrayList<>();
    s.addListener(updates::add);
    long offset = 0;
    for (AdapterSnapshot m : manifests) {
      s.apply(new ConsumerRecord<>("bonestream.adapters", 0, offset++,
          m.getAdapterId().getBytes(StandardCharsets.UTF_8), AdapterSnapshots.encode(m)));
    }
    return updates;
  }

  static AdapterUpdate.Refused refused(AdapterUpdate u) {
    assertTrue(u instanceof AdapterUpdate.Refused, "accepted: " + u);
    return (AdapterUpdate.Refused) u;
  }

  @Test
  void theSubscriberServesAnAdapterFromS3() {
    List<AdapterUpdate> updates = deliver(SECRET, publish("s3-served", 1), publish("s3-served", 2));
    assertEquals(2, updates.size());
    for (AdapterUpdate u : updates) {
      assertTrue(u instanceof AdapterUpdate.Accepted, "refused: " + u);
    }
    assertEquals("s3-served@2", ((AdapterUpdate.Accepted) updates.get(1)).adapter().name());
  }

  @Test
  void aTamperedBlobIsRefusedByTheDigestCheck() {
    AdapterSnapshot m = publish("s3-tampered", 1);
    String key = "blobs/s3-tampered/1/" + PeftFiles.ADAPTER_WEIGHTS;
    byte[] weights = read(key);
    weights[weights.length - 1] ^= 1;
    put(key, weights);
    AdapterUpdate.Refused r = refused(deliver(SECRET, m).get(0));
    assertEquals(RefusalReason.TAMPERED, r.reason(), r.message());
    assertTrue(r.message().contains("does not match the SHA-256 of its manifest"), r.message());
  }

  @Test
  void aMissingBlobIsMissingBlobWithTheStoresAnswer() {
    AdapterSnapshot m = publish("s3-missing", 1);
    store.removeBlob(BUCKET, "blobs/s3-missing/1/" + PeftFiles.ADAPTER_WEIGHTS);
    AdapterUpdate.Refused r = refused(deliver(SECRET, m).get(0));
    assertEquals(RefusalReason.MISSING_BLOB, r.reason(), r.message());
    assertTrue(r.message().startsWith("s3-missing@1: cannot fetch s3://" + BUCKET
        + "/blobs/s3-missing/1/adapter_model.safetensors: HTTP 404 NoSuchKey"), r.message());
  }

  @Test
  void aWrongSecretIsMissingBlobWithTheSignatureError() {
    AdapterUpdate.Refused r = refused(deliver(SECRET + "-wrong", publish("s3-denied", 1)).get(0));
    assertEquals(RefusalReason.MISSING_BLOB, r.reason(), r.message());
    assertTrue(r.message().contains(": HTTP 403 SignatureDoesNotMatch"), r.message());
    assertFalse(r.message().contains(SECRET), r.message());
  }

  static byte[] read(String key) {
    try (var in = store.getBlob(BUCKET, key).getPayload().openStream()) {
      return in.readAllBytes();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
