package io.bonestream.operators.publish;

import io.bonestream.core.BonestreamException;
import io.bonestream.schemas.SigningKeys;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Where the job's private signing key is: a file (e.g. a mounted Kubernetes Secret) or an
 * environment variable holding the key file's text, as {@code bonestream keygen} writes it. Only
 * this location travels with the job (its graph, its configuration); the key itself is read where
 * manifests are signed, on the TaskManagers, and never logged.
 */
public record SigningKeySource(String file, String environmentVariable) implements Serializable {
  public SigningKeySource {
    if ((file == null) == (environmentVariable == null)) {
      throw new BonestreamException("a signing key comes from a file or from an environment variable, one of them");
    }
  }

  public static SigningKeySource file(String path) {
    return new SigningKeySource(path, null);
  }

  public static SigningKeySource environment(String variable) {
    return new SigningKeySource(null, variable);
  }

  /**
   * Reads the key; every failure names the location, never the key. A key file others can read or
   * write is refused ({@link SigningKeys#checkPrivateKeyMode}).
   */
  public SigningKeys.Signer load() {
    String where = file != null ? "signing key file " + file : "environment variable " + environmentVariable;
    String text;
    if (file != null) {
      try {
        text = Files.readString(Path.of(file));
      } catch (NoSuchFileException e) {
        throw new BonestreamException(where + " not found");
      } catch (IOException e) {
        throw new BonestreamException("cannot read " + where + ": " + e.getMessage());
      }
    } else {
      text = System.getenv(environmentVariable);
      if (text == null || text.isBlank()) {
        throw new BonestreamException(where + " is not set");
      }
    }
    try {
      SigningKeys.Signer signer = SigningKeys.signer(text, where);
      if (file != null) {
        // after the content: a public key given by mistake (world-readable, as it may be) is named as such
        SigningKeys.checkPrivateKeyMode(Path.of(file));
      }
      return signer;
    } catch (IllegalArgumentException e) {
      throw new BonestreamException(e.getMessage());
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + where + ": " + e.getMessage());
    }
  }

  @Override
  public String toString() {
    return file != null ? "file " + file : "environment variable " + environmentVariable;
  }
}
