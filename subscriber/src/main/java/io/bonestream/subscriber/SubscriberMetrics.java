package io.bonestream.subscriber;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.List;

/**
 * A subscriber's Prometheus metrics (the Prometheus Java client): per adapter the served version,
 * its staleness (now − created_at) and the losses its manifest reports (training loss EMA, eval
 * loss: NaN until the job evaluates), the apply latency (manifest read → version served), refused
 * versions by reason (every reason exported from the start, at 0), and bytes fetched from the blob
 * store; with a {@link VllmRuntimeSink}, vLLM's loads and unloads by outcome, the retries, and the
 * version vLLM's alias of each adapter serves. Label values are exact adapter ids.
 */
public final class SubscriberMetrics {
  private final PrometheusRegistry registry;
  private final Counter refused;
  private final Counter bytesFetched;
  private final Histogram applySeconds;
  private final Counter requestsRefused;
  private final Counter followRestarts;
  private final Counter vllmLoads;
  private final Counter vllmUnloads;
  private final Counter vllmRetries;
  private final java.util.concurrent.ConcurrentHashMap<String, Long> vllmAliasVersions =
      new java.util.concurrent.ConcurrentHashMap<>();

  public SubscriberMetrics(PrometheusRegistry registry, AdapterRegistry adapters) {
    this.registry = registry;
    GaugeWithCallback.builder()
        .name("bonestream_subscriber_adapter_version")
        .help("the version the alias of each adapter serves")
        .labelNames("adapter")
        .callback(cb -> adapters.adapterIds().forEach(id ->
            adapters.resolve(id).ifPresent(v -> cb.call(v.version(), id))))
        .register(registry);
    GaugeWithCallback.builder()
        .name("bonestream_subscriber_adapter_staleness_seconds")
        .help("now minus the created_at of the version each adapter serves")
        .labelNames("adapter")
        .callback(cb -> adapters.adapterIds().forEach(id -> adapters.resolve(id).ifPresent(v ->
            cb.call((Instant.now().toEpochMilli() - v.createdAt().toEpochMilli()) / 1000.0, id))))
        .register(registry);
    GaugeWithCallback.builder()
        .name("bonestream_subscriber_adapter_loss_ema")
        .help("the training loss (EMA) the manifest of each served version reports")
        .labelNames("adapter")
        .callback(cb -> adapters.adapterIds().forEach(id -> adapters.resolve(id).ifPresent(v ->
            cb.call(v.stats().getLossEma(), id))))
        .register(registry);
    GaugeWithCallback.builder()
        .name("bonestream_subscriber_adapter_eval_loss")
        .help("the eval loss the manifest of each served version reports (NaN when it has none)")
        .labelNames("adapter")
        .callback(cb -> adapters.adapterIds().forEach(id -> adapters.resolve(id).ifPresent(v ->
            cb.call(v.stats().getEvalLoss() == null ? Double.NaN : v.stats().getEvalLoss(), id))))
        .register(registry);
    refused = Counter.builder().name("bonestream_subscriber_refused_total")
        .help("adapter versions refused, by reason").labelNames("reason").register(registry);
    for (RefusalReason r : RefusalReason.values()) {
      refused.initLabelValues(r.name()); // a rate over 0 is 0, not "no data"
    }
    bytesFetched = Counter.builder().name("bonestream_subscriber_fetched_bytes_total")
        .help("bytes fetched from the blob store").register(registry);
    applySeconds = Histogram.builder().name("bonestream_subscriber_apply_latency_seconds")
        .help("from reading a manifest to serving its version").register(registry);
    followRestarts = Counter.builder().name("bonestream_subscriber_follow_restarts_total")
        .help("times following the adapters topic failed and started again").register(registry);
    requestsRefused = Counter.builder().name("bonestream_serve_requests_refused_total")
        .help("inference requests refused: busy (queue full, 429), queue_timeout (503), prompt_too_long, unauthorized")
        .labelNames("reason").register(registry);
    for (String r : List.of("busy", "queue_timeout", "prompt_too_long", "unauthorized")) {
      requestsRefused.initLabelValues(r);
    }
    vllmLoads = Counter.builder().name("bonestream_subscriber_vllm_loads_total")
        .help("LoRA loads asked of vLLM (versions under their immutable name, and alias moves), by outcome")
        .labelNames("outcome").register(registry);
    vllmUnloads = Counter.builder().name("bonestream_subscriber_vllm_unloads_total")
        .help("LoRA unloads asked of vLLM (old versions beyond keep, alias moves), by outcome")
        .labelNames("outcome").register(registry);
    for (String o : List.of("ok", "failed")) {
      vllmLoads.initLabelValues(o);
      vllmUnloads.initLabelValues(o);
    }
    vllmRetries = Counter.builder().name("bonestream_subscriber_vllm_retries_total")
        .help("requests to vLLM sent again after a connection failure, a timeout or a 5xx").register(registry);
    GaugeWithCallback.builder()
        .name("bonestream_subscriber_vllm_alias_version")
        .help("the version vLLM's alias of each adapter serves, as this subscriber last moved it")
        .labelNames("adapter")
        .callback(cb -> vllmAliasVersions.forEach((id, v) -> cb.call(v, id)))
        .register(registry);
  }

  void vllmLoad(boolean ok) {
    vllmLoads.labelValues(ok ? "ok" : "failed").inc();
  }

  void vllmUnload(boolean ok) {
    vllmUnloads.labelValues(ok ? "ok" : "failed").inc();
  }

  void vllmRetry() {
    vllmRetries.inc();
  }

  void vllmAliasVersion(String adapterId, long version) {
    vllmAliasVersions.put(adapterId, version);
  }

  /** A registry of its own. */
  public static SubscriberMetrics create(AdapterRegistry adapters) {
    return new SubscriberMetrics(new PrometheusRegistry(), adapters);
  }

  void refused(RefusalReason reason) {
    refused.labelValues(reason.name()).inc();
  }

  private final java.util.concurrent.atomic.AtomicReference<java.util.function.BooleanSupplier> following =
      new java.util.concurrent.atomic.AtomicReference<>();

  /** Exports {@code bonestream_subscriber_following} (1 while the follow loop runs, 0 while it pauses to restart). */
  void following(java.util.function.BooleanSupplier state) {
    if (following.getAndSet(state) == null) {
      GaugeWithCallback.builder().name("bonestream_subscriber_following")
          .help("1 while the subscriber follows the adapters topic, 0 while its follow loop pauses to restart")
          .callback(cb -> {
            java.util.function.BooleanSupplier s = following.get();
            cb.call(s != null && s.getAsBoolean() ? 1 : 0);
          })
          .register(registry);
    }
  }

  void followRestarted() {
    followRestarts.inc();
  }

  /** Counts a request an inference server refused, by reason (e.g. {@code queue_full}). */
  public void requestRefused(String reason) {
    requestsRefused.labelValues(reason).inc();
  }

  void fetched(long bytes) {
    bytesFetched.inc(bytes);
  }

  void applied(double seconds) {
    applySeconds.observe(seconds);
  }

  public PrometheusRegistry registry() {
    return registry;
  }

  /**
   * Serves these metrics on {@code http://127.0.0.1:<port>/metrics} with the Prometheus client's
   * own HTTP exporter (for services without an HTTP server of their own); close it to stop.
   */
  public AutoCloseable serve(int port) {
    return serve("127.0.0.1", port);
  }

  /** As {@link #serve(int)} on {@code host} ({@code 0.0.0.0}: every interface). */
  public AutoCloseable serve(String host, int port) {
    try {
      return io.prometheus.metrics.exporter.httpserver.HTTPServer.builder().hostname(host).port(port)
          .registry(registry).buildAndStart();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serve metrics on " + host + ":" + port, e);
    }
  }

  /** The metrics in Prometheus' text format. */
  public String scrape() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      PrometheusTextFormatWriter.create().write(out, registry.scrape());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toString(java.nio.charset.StandardCharsets.UTF_8);
  }
}
