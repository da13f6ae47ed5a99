package io.bonestream.core;

/**
 * An error caused by the user's input (a file, a flag, a model folder), with a message that says
 * what is wrong in one line. Front ends print the message alone, never a stack trace.
 */
public class BonestreamException extends RuntimeException {
  public BonestreamException(String message) {
    super(message);
  }

  public BonestreamException(String message, Throwable cause) {
    super(message, cause);
  }
}
