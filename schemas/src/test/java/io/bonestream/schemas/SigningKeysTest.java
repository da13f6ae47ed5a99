package io.bonestream.schemas;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Key files: the private key owner-only from its creation on, and refused when others can read it. */
class SigningKeysTest {
  @TempDir Path tmp;

  @Test
  void thePrivateKeyIsOwnerOnlyAndReplacedWhole() throws Exception {
    String id = SigningKeys.write(SigningKeys.generate(), tmp, "signing");
    Path key = tmp.resolve("signing.key");
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(key)));
    assertEquals(id, SigningKeys.signer(Files.readString(key), "key").keyId());
    // a key written over an existing, too open file replaces the file (a new inode, owner-only),
    // and leaves no temporary file behind
    Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-rw-rw-"));
    String second = SigningKeys.write(SigningKeys.generate(), tmp, "signing");
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(key)));
    assertEquals(second, SigningKeys.signer(Files.readString(key), "key").keyId());
    try (var files = Files.list(tmp)) {
      assertEquals(List.of("signing.key", "signing.pub"), files.map(p -> p.getFileName().toString()).sorted().toList());
    }
  }

  @Test
  void aPrivateKeyOthersCanReadOrWriteIsRefused() throws Exception {
    SigningKeys.write(SigningKeys.generate(), tmp, "k");
    Path key = tmp.resolve("k.key");
    for (String ok : List.of("rw-------", "r--------", "rw-r-----", "r--r-----")) {
      Files.setPosixFilePermissions(key, PosixFilePermissions.fromString(ok));
      assertDoesNotThrow(() -> SigningKeys.checkPrivateKeyMode(key), ok);
    }
    for (String open : List.of("rw-r--r--", "rw----r--", "rw-----w-", "rw-rw-rw-")) {
      Files.setPosixFilePermissions(key, PosixFilePermissions.fromString(open));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> SigningKeys.checkPrivateKeyMode(key), open);
      assertTrue(e.getMessage().contains(key.toString()) && e.getMessage().contains(open)
          && e.getMessage().contains("chmod 600"), e.getMessage());
    }
  }
}
