package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

/**
 * The ports a command is about to listen on, checked before anything starts: a second demo beside
 * a first one got a page of Kafka's stack traces and "unexpected RuntimeException" instead of
 * the name of the port that is taken.
 */
final class Ports {
  private Ports() {}

  /** Fails with one line when {@code port} (not 0, any free one) cannot be bound on {@code host}. */
  static void requireFree(String host, String port, String option) {
    int p;
    try {
      p = Integer.parseInt(port.strip());
    } catch (NumberFormatException e) {
      return; // a range or a name: the component that binds it says what is wrong
    }
    if (p == 0) {
      return;
    }
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(true); // as the servers bind: a port in TIME_WAIT from the last run is free
      s.bind(new InetSocketAddress(InetAddress.getByName(host), p));
    } catch (BindException e) {
      throw new BonestreamException("port " + p + " on " + host + " (" + option + ") is in use: another demo, "
          + "Kafka broker or Flink cluster runs there? Stop it, or give " + option + " another port");
    } catch (IOException e) {
      throw new BonestreamException("cannot listen on " + host + ":" + p + " (" + option + "): " + e.getMessage());
    }
  }
}
