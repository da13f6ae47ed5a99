package io.bonestream.operators.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.schemas.SigningKeys;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SigningKeySourceTest {
  @TempDir Path tmp;

  @Test
  void theJobRefusesAKeyFileOthersCanRead() throws Exception {
    String id = SigningKeys.write(SigningKeys.generate(), tmp, "signing");
    Path key = tmp.resolve("signing.key");
    SigningKeySource source = SigningKeySource.file(key.toString());
    assertEquals(id, source.load().keyId());
    Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-r-----")); // a Secret's group
    assertEquals(id, source.load().keyId());
    Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-r--r--"));
    BonestreamException e = assertThrows(BonestreamException.class, source::load);
    assertTrue(e.getMessage().startsWith("private key file " + key + " is accessible by others"), e.getMessage());
  }
}
