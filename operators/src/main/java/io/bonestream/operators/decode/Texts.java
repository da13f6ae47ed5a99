package io.bonestream.operators.decode;

/** Short forms of untrusted text for dead-letter messages. */
final class Texts {
  private Texts() {}

  static String abbreviate(String s) {
    return s.length() > 40 ? s.substring(0, 40) + "..." : s;
  }
}
