package io.bonestream.subscriber;

import io.bonestream.core.BonestreamException;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The access key of an S3-compatible store: its id, its secret, and a session token for temporary
 * credentials. {@link #toString()} shows none of them, so a logged settings object leaks nothing.
 */
public final class S3Credentials {
  /** The environment variables {@link #fromEnvironment()} reads, as the AWS tools name them. */
  public static final String ACCESS_KEY_ID_ENV = "AWS_ACCESS_KEY_ID";
  public static final String SECRET_ACCESS_KEY_ENV = "AWS_SECRET_ACCESS_KEY";
  public static final String SESSION_TOKEN_ENV = "AWS_SESSION_TOKEN";

  private final String accessKeyId;
  private final String secretAccessKey;
  private final @Nullable String sessionToken;

  private S3Credentials(String accessKeyId, String secretAccessKey, @Nullable String sessionToken) {
    this.accessKeyId = check(accessKeyId, "access key id");
    this.secretAccessKey = check(secretAccessKey, "secret access key");
    this.sessionToken = sessionToken == null || sessionToken.isBlank() ? null : check(sessionToken, "session token");
  }

  /** Long-term credentials: an access key id and its secret. */
  public static S3Credentials of(String accessKeyId, String secretAccessKey) {
    return new S3Credentials(accessKeyId, secretAccessKey, null);
  }

  /** Temporary credentials: also a session token (sent as x-amz-security-token); blank means none. */
  public static S3Credentials of(String accessKeyId, String secretAccessKey, @Nullable String sessionToken) {
    return new S3Credentials(accessKeyId, secretAccessKey, sessionToken);
  }

  /** From AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, if set, AWS_SESSION_TOKEN. */
  public static S3Credentials fromEnvironment() {
    return fromEnvironment(System.getenv());
  }

  /** As {@link #fromEnvironment()}, from the given variables. */
  public static S3Credentials fromEnvironment(Map<String, String> env) {
    String id = env.get(ACCESS_KEY_ID_ENV);
    String secret = env.get(SECRET_ACCESS_KEY_ENV);
    boolean noId = id == null || id.isBlank();
    boolean noSecret = secret == null || secret.isBlank();
    if (noId || noSecret) {
      throw new BonestreamException("S3 credentials: " + (noId && noSecret
          ? ACCESS_KEY_ID_ENV + " and " + SECRET_ACCESS_KEY_ENV + " are not set"
          : (noId ? ACCESS_KEY_ID_ENV : SECRET_ACCESS_KEY_ENV) + " is not set"));
    }
    return new S3Credentials(id, secret, env.get(SESSION_TOKEN_ENV));
  }

  public String accessKeyId() {
    return accessKeyId;
  }

  String secretAccessKey() {
    return secretAccessKey;
  }

  @Nullable String sessionToken() {
    return sessionToken;
  }

  private static String check(@Nullable String v, String what) {
    if (v == null || v.isBlank()) {
      throw new BonestreamException("S3 credentials: the " + what + " is empty");
    }
    String s = v.strip();
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) < 0x20 || s.charAt(i) == 0x7f) {
        throw new BonestreamException("S3 credentials: the " + what + " holds a control character");
      }
    }
    return s;
  }

  /** Names no part of the key. */
  @Override
  public String toString() {
    return "S3Credentials[redacted" + (sessionToken == null ? "" : ", with a session token") + "]";
  }
}
