package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.util.Threads;
import io.bonestream.core.util.Durations;
import io.bonestream.job.KafkaProperties;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.serve.InferenceServer;
import io.bonestream.subscriber.AdapterListener;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterSubscriber;
import io.bonestream.subscriber.AdapterUpdate;
import io.bonestream.subscriber.BlobFetchException;
import io.bonestream.subscriber.BlobFetcher;
import io.bonestream.subscriber.PeftExportSink;
import io.bonestream.subscriber.S3BlobFetcher;
import io.bonestream.subscriber.S3Credentials;
import io.bonestream.subscriber.SubscriberMetrics;
import io.bonestream.subscriber.VllmRuntimeSink;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Serves completions over HTTP (OpenAI-style) with the base model and every adapter",
        "version the subscriber accepts from the adapters topic, hot-swapped. Ctrl-C stops it."})
final class ServeCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "DIR", description = "the base model folder")
  Path model;

  @Option(names = "--bootstrap", required = true, paramLabel = "HOST:PORT", description = "Kafka bootstrap servers")
  String bootstrap;

  @Option(names = "--topic", defaultValue = StreamingJob.ADAPTERS_TOPIC, paramLabel = "T", description =
      "the job's adapters topic (default: ${DEFAULT-VALUE})")
  String topic;

  @Option(names = "--host", defaultValue = "127.0.0.1", paramLabel = "ADDRESS",
      description = "the address to listen on (default: ${DEFAULT-VALUE}, loopback; 0.0.0.0: every interface)")
  String host;

  @Option(names = "--port", defaultValue = "8000", paramLabel = "PORT",
      description = "the completions API's port (default: ${DEFAULT-VALUE})")
  int port;

  @Option(names = "--export-dir", paramLabel = "DIR",
      description = "also write every version as PEFT folders here, with <adapter> aliases for LoRA servers")
  Path exportDir;

  @Option(names = "--export-layout", paramLabel = "LAYOUT",
      description = "peft: <adapter>@<version>/ as published, with lora/ inside (the default); vllm: "
          + "each <adapter>@<version>/ a LoRA that vLLM loads under that name (its filesystem "
          + "resolver, VLLM_LORA_RESOLVER_CACHE_DIR = the export folder); the default with "
          + "--vllm-url (docs/vllm.md)")
  String exportLayout;

  @Option(names = "--vllm-url", paramLabel = "URL",
      description = "also load every version into this vLLM through its runtime LoRA API (vLLM "
          + "started with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) as <adapter>@<version>, and "
          + "move <adapter> to the newest; needs --export-dir on a volume vLLM reads "
          + "(docs/vllm.md)")
  String vllmUrl;

  @Option(names = "--vllm-lora-path-prefix", paramLabel = "PATH",
      description = "the export folder as vLLM sees it, e.g. /adapters (default: the --export-dir path)")
  String vllmLoraPathPrefix;

  @Option(names = "--vllm-base-model-name", paramLabel = "NAME",
      description = "the base_model_name_or_path written in each LoRA: vLLM's --model value exactly, which its "
          + "filesystem resolver requires (default: the --model folder's name)")
  String vllmBaseModelName;

  @Option(names = "--vllm-max-lora-rank", paramLabel = "N",
      description = "vLLM's --max-lora-rank: 1, 8, 16, 32, 64, 128, 256, 320 or 512 (default: 16, "
          + "vLLM's); bat adapters "
          + "are exported as an SVD LoRA of this rank")
  Integer vllmMaxLoraRank;

  @Option(names = "--vllm-api-key-file", paramLabel = "FILE",
      description = "vLLM's --api-key, from a file only its owner may read (or set BONESTREAM_VLLM_API_KEY)")
  Path vllmApiKeyFile;

  @Option(names = "--vllm-allow-http", description = "allow plain http:// to a vLLM that is not on loopback")
  boolean vllmAllowHttp;

  @Option(names = "--keep", defaultValue = "3", paramLabel = "K", description =
      "versions held per adapter (default: ${DEFAULT-VALUE})")
  int keep;

  @Option(names = "--state-dir", paramLabel = "DIR",
      description = "keep each adapter's last accepted manifest and highest version here: a restart "
          + "never serves a lower version (a replayed old manifest) and still serves adapters "
          + "the topic lost (compaction, tombstones)")
  Path stateDir;

  @Option(names = "--kafka-config", paramLabel = "FILE", description = "Kafka client properties (TLS, SASL, ...)")
  Path kafkaConfig;

  @Option(names = "--public-key", paramLabel = "FILE",
      description = "trust manifests signed with this Ed25519 public key (repeat for a key rotation); "
          + "unsigned, unknown-key or badly signed manifests are refused")
  List<Path> publicKeys = new ArrayList<>();

  @Option(names = "--allow-unsigned", description =
      "serve unsigned manifests, checking no signature (not with --public-key)")
  boolean allowUnsigned;

  @Option(names = "--admin-token-file", paramLabel = "FILE",
      description = "enables /admin/pin and /admin/unpin with this bearer token (or set BONESTREAM_ADMIN_TOKEN)")
  Path adminTokenFile;

  @Option(names = "--api-token-file", paramLabel = "FILE",
      description = "completions, models and the status data need this bearer token (or set "
          + "BONESTREAM_API_TOKEN); open the status page as /#token=<token>")
  Path apiTokenFile;

  @Option(names = "--max-prompt-tokens", defaultValue = "2048", paramLabel = "N",
      description = "longer prompts are refused with a 400 (default: ${DEFAULT-VALUE}; never over the "
          + "model's context)")
  int maxPromptTokens;

  @Option(names = "--max-tokens", defaultValue = "512", paramLabel = "N",
      description = "the largest max_tokens a request may ask for (default: ${DEFAULT-VALUE})")
  int maxTokens;

  @Option(names = "--concurrency", defaultValue = "2", paramLabel = "N",
      description = "generations at once (default: ${DEFAULT-VALUE})")
  int concurrency;

  @Option(names = "--queue", defaultValue = "16", paramLabel = "N",
      description = "requests waiting for a generation; beyond that 429 (default: ${DEFAULT-VALUE})")
  int queue;

  @Option(names = "--queue-wait", defaultValue = "30s", paramLabel = "DURATION",
      description = "a request waiting longer gets a 503 (default: ${DEFAULT-VALUE})")
  String queueWait;

  @Option(names = "--request-timeout", defaultValue = "10s", paramLabel = "DURATION",
      description = "the most time reading a request, and writing a response, may each take (default: "
          + "${DEFAULT-VALUE})")
  String requestTimeout;

  @Option(names = "--connections", defaultValue = "32", paramLabel = "N",
      description = "connections handled at once (default: ${DEFAULT-VALUE})")
  int connections;

  @Option(names = "--merged-cache", defaultValue = "512MiB", paramLabel = "SIZE",
      description = "merged adapter weights kept for reuse (default: ${DEFAULT-VALUE})")
  String mergedCache;

  @Option(names = "--s3-endpoint", paramLabel = "URL", converter = S3Endpoint.class,
      description = "the S3-compatible store of the claim checks (s3://, s3a://, s3p://), e.g. http://minio:9000 "
          + "(default: AWS's endpoint of the region); credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
          + "and AWS_SESSION_TOKEN")
  String s3Endpoint;

  @Option(names = "--s3-region", paramLabel = "R", defaultValue = "${env:AWS_REGION:-us-east-1}",
      converter = S3Region.class, description =
          "the region S3 requests are signed for (default: AWS_REGION, else us-east-1)")
  String s3Region;

  @Option(names = "--s3-path-style", description =
      "S3 requests as ENDPOINT/BUCKET/KEY (the default with --s3-endpoint)")
  boolean s3PathStyle;

  @Option(names = "--s3-virtual-host", description =
      "S3 requests as BUCKET.ENDPOINT/KEY (the default without --s3-endpoint)")
  boolean s3VirtualHost;

  @CommandLine.Mixin
  LogOptions log;

  /** Checks an --s3-endpoint value as the fetcher will. */
  static final class S3Endpoint implements CommandLine.ITypeConverter<String> {
    @Override
    public String convert(String v) {
      try {
        S3BlobFetcher.builder().endpoint(v);
        return v;
      } catch (BonestreamException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /** Checks an --s3-region value as the fetcher will. */
  static final class S3Region implements CommandLine.ITypeConverter<String> {
    @Override
    public String convert(String v) {
      try {
        S3BlobFetcher.builder().region(v);
        return v;
      } catch (BonestreamException e) {
        throw new CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /**
   * The fetcher of claim checks on S3, from the options and the credentials in {@code env}; without
   * credentials (and without --s3-* options) a fetcher that refuses every S3 claim check saying so.
   */
  BlobFetcher s3Fetcher(Map<String, String> env) {
    if (s3PathStyle && s3VirtualHost) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--s3-path-style and --s3-virtual-host exclude each other");
    }
    boolean credentials = !env.getOrDefault(S3Credentials.ACCESS_KEY_ID_ENV, "").isBlank()
        || !env.getOrDefault(S3Credentials.SECRET_ACCESS_KEY_ENV, "").isBlank();
    if (!credentials) {
      if (s3Endpoint != null || s3PathStyle || s3VirtualHost) {
        throw new BonestreamException("--s3-* options need S3 credentials: set " + S3Credentials.ACCESS_KEY_ID_ENV
            + " and " + S3Credentials.SECRET_ACCESS_KEY_ENV);
      }
      return uri -> {
        throw new BlobFetchException("no S3 credentials: serve reads claim checks on S3 with "
            + S3Credentials.ACCESS_KEY_ID_ENV + " and " + S3Credentials.SECRET_ACCESS_KEY_ENV + ", which are not set");
      };
    }
    S3BlobFetcher.Builder b = S3BlobFetcher.builder().region(s3Region).credentials(S3Credentials.fromEnvironment(env));
    if (s3Endpoint != null) {
      b.endpoint(s3Endpoint);
    }
    if (s3PathStyle || s3VirtualHost) {
      b.pathStyle(s3PathStyle);
    }
    return b.build();
  }

  /** Environment variable of vLLM's API key, when --vllm-api-key-file is not given. */
  static final String VLLM_API_KEY_ENV = "BONESTREAM_VLLM_API_KEY";

  /**
   * The listener that writes the export folder (and, with --vllm-url, loads it into vLLM), from
   * the options and {@code env}; null without --export-dir. Option mistakes are refused here, before
   * the model loads.
   */
  @org.jspecify.annotations.Nullable
  AdapterListener exportSink(Map<String, String> env, SubscriberMetrics metrics) {
    String layout = exportLayout == null ? (vllmUrl != null ? "vllm" : "peft") : exportLayout;
    if (!layout.equals("peft") && !layout.equals("vllm")) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--export-layout is peft or vllm, not '" + layout + "'");
    }
    if (vllmUrl != null && layout.equals("peft")) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--vllm-url writes the vllm export layout: "
          + "--export-layout peft and --vllm-url exclude each other");
    }
    if (exportDir == null) {
      if (vllmUrl != null || exportLayout != null) {
        throw new CommandLine.ParameterException(spec.commandLine(), (vllmUrl != null ? "--vllm-url" : "--export-layout")
            + " needs --export-dir (with --vllm-url, a folder vLLM reads too)");
      }
    }
    if (vllmUrl == null) {
      for (var o : new Object[][] {{"--vllm-lora-path-prefix", vllmLoraPathPrefix}, {"--vllm-api-key-file", vllmApiKeyFile},
          {"--vllm-allow-http", vllmAllowHttp ? true : null}}) {
        if (o[1] != null) {
          throw new CommandLine.ParameterException(spec.commandLine(), o[0] + " is for --vllm-url, which is not given");
        }
      }
      if (!layout.equals("vllm") && (vllmBaseModelName != null || vllmMaxLoraRank != null)) {
        throw new CommandLine.ParameterException(spec.commandLine(), (vllmBaseModelName != null
            ? "--vllm-base-model-name" : "--vllm-max-lora-rank") + " is for --export-layout vllm or --vllm-url");
      }
    }
    if (exportDir == null) {
      return null;
    }
    int rank = vllmMaxLoraRank != null ? vllmMaxLoraRank : PeftExportSink.VLLM_DEFAULT_MAX_LORA_RANK;
    if (!PeftExportSink.VLLM_MAX_LORA_RANKS.contains(rank)) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--vllm-max-lora-rank is one of the ranks vLLM "
          + "accepts, " + PeftExportSink.VLLM_MAX_LORA_RANKS + ", not " + rank);
    }
    if (vllmUrl == null) {
      PeftExportSink.Builder b = PeftExportSink.builder(exportDir).keep(keep);
      return (layout.equals("vllm") ? b.vllm(vllmBaseModelName, rank) : b).build();
    }
    VllmRuntimeSink.Builder b = VllmRuntimeSink.builder().url(vllmUrl).exportDir(exportDir).keep(keep)
        .maxLoraRank(rank).allowPlainHttp(vllmAllowHttp).metrics(metrics);
    if (vllmLoraPathPrefix != null) {
      b.loraPathPrefix(vllmLoraPathPrefix);
    }
    if (vllmBaseModelName != null) {
      b.baseModelName(vllmBaseModelName);
    }
    if (vllmApiKeyFile != null) {
      b.apiKeyFile(vllmApiKeyFile);
    } else if (!env.getOrDefault(VLLM_API_KEY_ENV, "").isBlank()) {
      b.apiKey(env.get(VLLM_API_KEY_ENV).strip());
    }
    return b.build();
  }

  /** A bearer token from its file, else from the environment variable; null if neither is set. */
  private static String tokenOf(Path file, String env, String what) {
    if (file != null) {
      try {
        return Files.readString(file).strip();
      } catch (IOException e) {
        throw new BonestreamException("cannot read the " + what + " token file " + file);
      }
    }
    String v = System.getenv(env);
    return v == null || v.isBlank() ? null : v.strip();
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (publicKeys.isEmpty() && !allowUnsigned) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "give --public-key FILE to check the manifests' signatures, or --allow-unsigned");
    }
    if (!publicKeys.isEmpty() && allowUnsigned) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--public-key and --allow-unsigned exclude "
          + "each other: with both, anyone who can write the topic could have an unsigned manifest served");
    }
    BlobFetcher s3 = s3Fetcher(System.getenv());
    for (var o : List.of(Map.entry("--max-prompt-tokens", maxPromptTokens), Map.entry("--max-tokens", maxTokens),
        Map.entry("--concurrency", concurrency), Map.entry("--connections", connections))) {
      if (o.getValue() < 1) {
        throw new CommandLine.ParameterException(spec.commandLine(), o.getKey() + " must be at least 1, not " + o.getValue());
      }
    }
    if (queue < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--queue cannot be negative");
    }
    AdapterRegistry registry = AdapterRegistry.builder().keep(keep).build();
    SubscriberMetrics metrics = SubscriberMetrics.create(registry);
    AdapterListener exportSink = exportSink(System.getenv(), metrics);
    String token = tokenOf(adminTokenFile, "BONESTREAM_ADMIN_TOKEN", "admin");
    String apiToken = tokenOf(apiTokenFile, "BONESTREAM_API_TOKEN", "API");
    java.time.Duration timeout = Durations.parse(requestTimeout, "--request-timeout");
    java.time.Duration wait = Durations.parse(queueWait, "--queue-wait");
    long cacheBytes = Durations.parseBytes(mergedCache, "--merged-cache");
    Ports.requireFree(host, String.valueOf(port), "--port");
    log.start("serve", Path.of("logs"), out);
    Threads.configure(Threads.auto(0, ModelConfig.read(model).hiddenSize()));
    SharedModels.Loaded loaded = SharedModels.acquire(model);
    AdapterSubscriber.Builder builder = AdapterSubscriber.builder().bootstrapServers(bootstrap).topic(topic)
        .kafkaProperties(KafkaProperties.load(kafkaConfig)).baseModel(loaded.model().host()).registry(registry)
        .metrics(metrics).allowUnsigned(allowUnsigned).stateDir(stateDir);
    publicKeys.forEach(builder::trustedKeyFile);
    S3BlobFetcher.SCHEMES.forEach(scheme -> builder.blobFetcher(scheme, s3));
    AdapterSubscriber subscriber = builder.build();
    subscriber.addListener(u -> {
      if (u instanceof AdapterUpdate.Accepted a) {
        out.println("serving " + a.adapter().name() + " (step " + a.adapter().stats().getStep() + ")");
      } else if (u instanceof AdapterUpdate.Refused r) {
        out.println("refused " + r.adapterId() + "@" + r.version() + ": " + r.reason() + ": " + r.message());
      }
      out.flush();
    });
    if (exportSink != null) {
      subscriber.addListener(exportSink);
    }
    InferenceServer server = InferenceServer.builder().baseModel(loaded.model()).tokenizer(loaded.tokenizer())
        .registry(registry).metrics(metrics).adminToken(token).apiToken(apiToken).readiness(subscriber::isReady)
        .host(host).port(port).maxPromptTokens(maxPromptTokens).maxTokens(maxTokens).concurrency(concurrency)
        .queue(queue).queueWait(wait).requestTimeout(timeout).connections(connections).mergedCacheBytes(cacheBytes)
        .build();
    subscriber.start();
    out.println("claim checks: file:, and S3 " + (s3 instanceof S3BlobFetcher f ? "at " + f.endpoint() + " (region "
        + f.region() + ", " + (f.pathStyle() ? "path-style" : "virtual-host") + ")" : "off (no S3 credentials)"));
    out.println("serving " + loaded.model().name() + " on http://" + host + ":" + server.port()
        + " (completions: POST /v1/completions, models: GET /v1/models, metrics: /metrics)"
        + (token == null ? "; admin endpoints off" : "; admin endpoints on")
        + (apiToken == null ? "; no API token" : "; API token required"));
    out.flush();
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      subscriber.close();
      done.countDown();
    }));
    subscriber.awaitReady(Duration.ofSeconds(60));
    done.await();
    return 0;
  }
}
