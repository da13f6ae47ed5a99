package org.apache.flink.metrics.prometheus;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Properties;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

/**
 * Makes a {@link BoundPrometheusReporter}: {@code host} (default 127.0.0.1: loopback) and {@code port}
 * (default 9249), e.g. {@code metrics.reporter.prom.factory.class} set to this class and
 * {@code metrics.reporter.prom.host: 0.0.0.0} to serve every interface.
 */
public final class BoundPrometheusReporterFactory implements MetricReporterFactory {
  @Override
  public MetricReporter createMetricReporter(Properties properties) {
    String host = properties.getProperty("host", "127.0.0.1");
    String port = properties.getProperty("port", "9249");
    try {
      return new BoundPrometheusReporter(host, Integer.parseInt(port));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("metrics reporter port '" + port + "' is not a port number");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serve metrics on " + host + ":" + port + ": " + e.getMessage(), e);
    }
  }
}
