package org.apache.flink.metrics.prometheus;

import io.prometheus.client.exporter.HTTPServer;
import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * Flink's Prometheus reporter, served on one address (loopback unless configured) instead of every
 * interface, which is all Flink's own {@code PrometheusReporter} can do: what {@code run} and the
 * demo use ({@code metrics.reporter.prom.host}, {@code .port}). It lives in Flink's package because
 * the registry it serves is package-private in {@link AbstractPrometheusReporter}.
 */
public final class BoundPrometheusReporter extends AbstractPrometheusReporter {
  private final HTTPServer server;

  BoundPrometheusReporter(String host, int port) throws IOException {
    server = new HTTPServer(new InetSocketAddress(host, port), registry, true);
  }

  int port() {
    return server.getPort();
  }

  @Override
  public void close() {
    server.stop();
    super.close();
  }
}
