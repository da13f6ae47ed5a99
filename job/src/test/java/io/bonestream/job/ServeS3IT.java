package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFiles;
import io.bonestream.core.util.Hashes;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ClaimCheck;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bonestream serve} reads claim checks from a real S3 server end to end: signed manifests on
 * a real broker name adapter folders on S3Proxy (run in this JVM, checking AWS Signature V4), serve
 * runs as its own process with the credentials in its environment and {@code --s3-endpoint}, as in
 * the Kubernetes manifests. A good version is served, a missing blob is MISSING_BLOB (404 NoSuchKey),
 * a changed blob TAMPERED; with a wrong secret every version is MISSING_BLOB (403 SignatureDoesNotMatch).
 */
class ServeS3IT {
  static final String ACCESS_KEY = "bonestream-serve";
  static final String SECRET = "serve-secret-0123456789";
  static final String BUCKET = "bonestream";

  @TempDir Path tmp;

  @Test
  void serveFetchesClaimChecksFromS3() throws Exception {
    BlobStoreContext context = ContextBuilder.newBuilder("transient").credentials("identity", "credential")
        .build(BlobStoreContext.class);
    BlobStore store = context.getBlobStore();
    store.createContainerInLocation(null, BUCKET);
    S3Proxy proxy = S3Proxy.builder().blobStore(store).endpoint(URI.create("http://127.0.0.1:0"))
        .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET).build();
    proxy.start();
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (!proxy.getState().equals("STARTED") && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      String endpoint = "http://127.0.0.1:" + proxy.getPort();
      kafka.createTopic("s3.adapters", 1, true);
      SigningKeys.write(SigningKeys.generate(), tmp.resolve("keys"), "signing");
      SigningKeys.Signer signer = SigningKeys.signer(Files.readString(tmp.resolve("keys/signing.key")), "key");
      BaseModel base = BaseModel.load(TestFiles.stories260K());
      try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config())) {
        Manifests m = new Manifests(base, tok, "a", AdapterMethod.BAT);
        // what the job's BlobStore writes: <root>/<adapter>/<version>/ with the two PEFT files
        java.util.function.LongFunction<AdapterSnapshot> claimCheck = v -> {
          m.next(v, 2);
          PeftExport.AdapterFiles f = m.files();
          byte[] cfg = f.configJson().getBytes(StandardCharsets.UTF_8);
          String dir = "blobs/a/" + v;
          put(store, dir + "/" + PeftFiles.ADAPTER_WEIGHTS, f.weights());
          put(store, dir + "/" + PeftFiles.ADAPTER_CONFIG, cfg);
          return ManifestSignatures.sign(m.manifest(v).setPayload(ClaimCheck.newBuilder()
              .setUri("s3://" + BUCKET + "/" + dir).setSize(f.weights().length)
              .setSha256(Hashes.sha256Hex(f.weights())).setConfigSha256(Hashes.sha256Hex(cfg)).build()).build(),
              signer);
        };
        AdapterSnapshot v1 = claimCheck.apply(1);
        AdapterSnapshot v2 = claimCheck.apply(2);
        store.removeBlob(BUCKET, "blobs/a/2/" + PeftFiles.ADAPTER_WEIGHTS);
        AdapterSnapshot v3 = claimCheck.apply(3);
        String key3 = "blobs/a/3/" + PeftFiles.ADAPTER_WEIGHTS;
        byte[] w3;
        try (var in = store.getBlob(BUCKET, key3).getPayload().openStream()) {
          w3 = in.readAllBytes();
        }
        w3[w3.length / 2] ^= 1;
        put(store, key3, w3);
        AdapterSnapshot v4 = claimCheck.apply(4);
        Manifests.publish(kafka.bootstrapServers(), "s3.adapters", v1, v2, v3, v4);

        try (CliProcess serve = serve(kafka, endpoint, SECRET, "serve.log")) {
          awaitLog(serve, "serving a@4");
          String log = serve.output();
          assertTrue(log.contains("claim checks: file:, and S3 at " + endpoint + " (region us-east-1, path-style)"), log);
          assertTrue(log.contains("serving a@1"), log);
          assertTrue(log.contains("refused a@2: MISSING_BLOB: a@2: cannot fetch s3://bonestream/blobs/a/2/"
              + "adapter_model.safetensors: HTTP 404 NoSuchKey"), log);
          assertTrue(log.contains("refused a@3: TAMPERED: a@3: the blob at s3://bonestream/blobs/a/3 does not match"),
              log);
          assertTrue(!log.contains(SECRET), "the secret is in serve's output");
        }
        try (CliProcess serve = serve(kafka, endpoint, SECRET + "-wrong", "serve-wrong.log")) {
          awaitLog(serve, "refused a@4");
          String log = serve.output();
          assertTrue(log.contains("refused a@1: MISSING_BLOB: a@1: cannot fetch s3://bonestream/blobs/a/1/"
              + "adapter_model.safetensors: HTTP 403 SignatureDoesNotMatch"), log);
          assertTrue(!log.contains("serving a@"), log);
        }
      }
    } finally {
      proxy.stop();
      context.close();
    }
  }

  private CliProcess serve(EmbeddedKafka kafka, String endpoint, String secret, String log) throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    return CliProcess.start(tmp.resolve(log), Map.of("AWS_ACCESS_KEY_ID", ACCESS_KEY, "AWS_SECRET_ACCESS_KEY", secret),
        "serve", "--model", TestFiles.stories260K().toString(), "--bootstrap", kafka.bootstrapServers(),
        "--topic", "s3.adapters", "--port", Integer.toString(port),
        "--public-key", tmp.resolve("keys/signing.pub").toString(),
        "--s3-endpoint", endpoint, "--s3-region", "us-east-1", "--s3-path-style");
  }

  private static void put(BlobStore store, String key, byte[] bytes) {
    store.putBlob(BUCKET, store.blobBuilder(key).payload(bytes).contentLength(bytes.length).build());
  }

  private static void awaitLog(CliProcess p, String line) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
    while (!p.output().contains(line)) {
      if (System.nanoTime() > deadline || !p.alive()) {
        throw new AssertionError("'" + line + "' never came:\n" + p.output());
      }
      Thread.sleep(200);
    }
  }
}
