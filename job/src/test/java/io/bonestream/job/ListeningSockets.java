package io.bonestream.job;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The TCP sockets a process listens on, from Linux's {@code /proc}: the socket inodes among the
 * process's open files, looked up in {@code /proc/PID/net/tcp} and {@code tcp6}. For tests that
 * check where servers bind.
 */
final class ListeningSockets {
  private ListeningSockets() {}

  static boolean available() {
    return Files.isReadable(Path.of("/proc/self/net/tcp")) && Files.isDirectory(Path.of("/proc/self/fd"));
  }

  /** The listening sockets of process {@code pid} by inode: "address:port" (IPv4 dotted, IPv6 as 32 hex digits). */
  static Map<Long, String> of(long pid) {
    Path proc = Path.of("/proc", String.valueOf(pid));
    Set<Long> mine = new HashSet<>();
    try (Stream<Path> fds = Files.list(proc.resolve("fd"))) {
      for (Path fd : fds.toList()) {
        try {
          String target = Files.readSymbolicLink(fd).toString();
          if (target.startsWith("socket:[")) {
            mine.add(Long.parseLong(target.substring(8, target.length() - 1)));
          }
        } catch (IOException closedMeanwhile) {
          // a descriptor closed while listed
        }
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot list " + proc.resolve("fd"), e);
    }
    Map<Long, String> out = new TreeMap<>();
    for (String table : List.of("net/tcp", "net/tcp6")) {
      List<String> lines;
      try {
        lines = Files.readAllLines(proc.resolve(table));
      } catch (IOException e) {
        continue; // no IPv6
      }
      for (String line : lines.subList(1, lines.size())) {
        String[] f = line.trim().split("\\s+");
        long inode = Long.parseLong(f[9]);
        if (f[3].equals("0A") && mine.contains(inode)) { // 0A: LISTEN
          String[] local = f[1].split(":");
          out.put(inode, address(local[0]) + ":" + Integer.parseInt(local[1], 16));
        }
      }
    }
    return out;
  }

  /** Whether an address as {@link #of} writes it is a loopback address (IPv4, IPv6 or IPv4-mapped). */
  static boolean isLoopback(String addressAndPort) {
    String a = addressAndPort.substring(0, addressAndPort.lastIndexOf(':'));
    return a.startsWith("127.") || a.equals("00000000000000000000000001000000") // ::1
        || a.startsWith("0000000000000000FFFF0000") && a.endsWith("7F"); // ::ffff:127.x.x.x
  }

  private static String address(String hex) {
    if (hex.length() != 8) {
      return hex;
    }
    // IPv4: four bytes, little-endian
    return Integer.parseInt(hex.substring(6, 8), 16) + "." + Integer.parseInt(hex.substring(4, 6), 16) + "."
        + Integer.parseInt(hex.substring(2, 4), 16) + "." + Integer.parseInt(hex.substring(0, 2), 16);
  }
}
