package io.bonestream.schemas;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Ed25519 keys for signed manifests, from the JDK, in PEM files: a private key file holds the
 * private key (PKCS#8) and its public key (X.509), so a signer knows its key id; a public key file
 * holds the public key alone. A key's id is {@code ed25519:} and the first 16 hex digits of the
 * SHA-256 of its public key: verifiers need no list of ids beside the keys.
 */
public final class SigningKeys {
  private static final Pattern PEM = Pattern.compile(
      "-----BEGIN ([A-Z ]+)-----\\s*([A-Za-z0-9+/=\\s]+?)\\s*-----END \\1-----");

  /** A private key with its public key and id. */
  public record Signer(PrivateKey privateKey, PublicKey publicKey, String keyId) {
    @Override
    public String toString() {
      return "signing key " + keyId; // never the key itself
    }
  }

  private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

  private SigningKeys() {}

  public static KeyPair generate() {
    try {
      return KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this Java runtime has no Ed25519", e);
    }
  }

  public static String keyId(PublicKey key) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(key.getEncoded());
      return "ed25519:" + HexFormat.of().formatHex(h, 0, 8);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The text of a private key file: both keys, PEM. */
  public static String privatePem(KeyPair pair) {
    return pem("PRIVATE KEY", pair.getPrivate().getEncoded()) + pem("PUBLIC KEY", pair.getPublic().getEncoded());
  }

  public static String publicPem(PublicKey key) {
    return pem("PUBLIC KEY", key.getEncoded());
  }

  /**
   * Writes {@code <name>.key} (owner-only) and {@code <name>.pub}; returns the key id. The private
   * key is written to a file created owner-only (mode 0600 given at creation, not set afterwards)
   * and then renamed into place: no one else can open it at any moment, and no half-written key is
   * ever there.
   */
  public static String write(KeyPair pair, Path dir, String name) throws IOException {
    Files.createDirectories(dir);
    Path key = dir.resolve(name + ".key");
    Path tmp;
    try {
      tmp = Files.createTempFile(dir, "." + name, ".key.tmp", PosixFilePermissions.asFileAttribute(OWNER_ONLY));
    } catch (UnsupportedOperationException notPosix) {
      tmp = Files.createTempFile(dir, "." + name, ".key.tmp"); // no POSIX modes: the user protects the folder
    }
    try {
      Files.writeString(tmp, privatePem(pair));
      Files.move(tmp, key, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
    Files.writeString(dir.resolve(name + ".pub"), publicPem(pair.getPublic()));
    return keyId(pair.getPublic());
  }

  /**
   * Refuses a private key file that users other than its owner and group can read or write (as ssh
   * refuses one): an IllegalArgumentException that names the file, its mode and the fix. Group
   * access stays allowed (Kubernetes mounts Secrets 0440 with an fsGroup). Files on a file system
   * without POSIX modes pass.
   */
  public static void checkPrivateKeyMode(Path file) throws IOException {
    checkSecretFileMode(file, "private key file");
  }

  /**
   * The same check for any file holding a secret ({@code what} names it in the message: "registry
   * secret file"): others may neither read nor write it; its group may.
   */
  public static void checkSecretFileMode(Path file, String what) throws IOException {
    Set<PosixFilePermission> mode;
    try {
      mode = Files.getPosixFilePermissions(file);
    } catch (UnsupportedOperationException notPosix) {
      return;
    }
    if (mode.contains(PosixFilePermission.OTHERS_READ) || mode.contains(PosixFilePermission.OTHERS_WRITE)) {
      throw new IllegalArgumentException(what + " " + file + " is accessible by others (mode "
          + PosixFilePermissions.toString(mode) + "): chmod 600 it (640 where a group must read it)");
    }
  }

  /** A signer from the text of a private key file (as {@link #privatePem} writes it). */
  public static Signer signer(String pemText, String source) {
    byte[] priv = block(pemText, "PRIVATE KEY", source);
    byte[] pub = block(pemText, "PUBLIC KEY", source);
    try {
      KeyFactory f = KeyFactory.getInstance("Ed25519");
      PublicKey publicKey = f.generatePublic(new X509EncodedKeySpec(pub));
      return new Signer(f.generatePrivate(new PKCS8EncodedKeySpec(priv)), publicKey, keyId(publicKey));
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(source + " does not hold an Ed25519 key pair");
    }
  }

  /**
   * The public key in a PEM file, as {@code bonestream keygen} writes it ({@code .pub}); an
   * unreadable file or one without an Ed25519 public key is an IllegalArgumentException that says so.
   */
  public static PublicKey readPublicKey(Path pem) {
    String text;
    try {
      text = Files.readString(pem);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read public key file " + pem + ": " + e.getMessage());
    }
    return publicKey(text, pem.toString());
  }

  /** A public key from the text of a public key file. */
  public static PublicKey publicKey(String pemText, String source) {
    try {
      return KeyFactory.getInstance("Ed25519").generatePublic(
          new X509EncodedKeySpec(block(pemText, "PUBLIC KEY", source)));
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(source + " does not hold an Ed25519 public key");
    }
  }

  private static byte[] block(String text, String type, String source) {
    Matcher m = PEM.matcher(text);
    while (m.find()) {
      if (m.group(1).equals(type)) {
        try {
          return Base64.getMimeDecoder().decode(m.group(2));
        } catch (IllegalArgumentException e) {
          break;
        }
      }
    }
    throw new IllegalArgumentException(source + " holds no PEM '" + type + "' block");
  }

  private static String pem(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
        + "\n-----END " + type + "-----\n";
  }
}
