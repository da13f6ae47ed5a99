package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.schemas.SigningKeys;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "keygen", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Writes an Ed25519 key pair for signed adapter manifests: NAME.key (private, for the",
        "job's signing.private-key-file; readable by its owner only) and NAME.pub (for serve --public-key)."})
final class KeygenCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "the folder to write the keys to")
  Path out;

  @Option(names = "--name", defaultValue = "signing", paramLabel = "NAME", description = "file names (default: ${DEFAULT-VALUE})")
  String name;

  @Option(names = "--force", description = "overwrite an existing key pair")
  boolean force;

  @Override
  public Integer call() {
    if (!name.matches("[A-Za-z0-9._-]{1,64}")) {
      throw new BonestreamException("--name must be 1 to 64 of [A-Za-z0-9._-]");
    }
    if (!force && (Files.exists(out.resolve(name + ".key")) || Files.exists(out.resolve(name + ".pub")))) {
      throw new BonestreamException(out.resolve(name + ".key") + " exists; --force overwrites it");
    }
    String id;
    try {
      id = SigningKeys.write(SigningKeys.generate(), out, name);
    } catch (IOException e) {
      throw new BonestreamException("cannot write the keys to " + out + ": " + e.getMessage());
    }
    PrintWriter o = spec.commandLine().getOut();
    o.println("key id " + id);
    o.println("private key: " + out.resolve(name + ".key") + "  (job.yaml: signing.private-key-file)");
    o.println("public key:  " + out.resolve(name + ".pub") + "  (serve --public-key, tail-snapshots --public-key)");
    return 0;
  }
}
