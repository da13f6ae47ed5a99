package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.operators.decode.ControlRecords;
import io.bonestream.operators.train.AdapterTrainer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The ids of {@code erase --user-ids FILE} / {@code --example-ids FILE}: one a line (UTF-8, blank
 * lines skipped, a repeated id sent once), each checked as the job would check it, at most as many as
 * one adapter holds waiting to be listed ({@link AdapterTrainer#MAX_PENDING_ERASURES}), so that none
 * of them is turned away for that.
 */
final class ErasureIds {
  /** The most requests one run writes. */
  static final int MAX_IDS = AdapterTrainer.MAX_PENDING_ERASURES;
  /** The most bytes read: that many ids at their longest (4 UTF-8 bytes a character) and line ends. */
  static final int MAX_BYTES = MAX_IDS * (4 * ControlRecords.MAX_ID_CHARS + 2);

  private ErasureIds() {}

  /** The ids in {@code file} ("-": {@code stdin}); {@code what} is "user id" or "example id". */
  static List<String> read(String file, String what, InputStream stdin) {
    byte[] data;
    try (InputStream in = file.equals("-") ? stdin : Files.newInputStream(Path.of(file))) {
      data = in.readNBytes(MAX_BYTES + 1);
    } catch (NoSuchFileException e) {
      throw new BonestreamException("no such file: " + file);
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
    String source = file.equals("-") ? "standard input" : file;
    if (data.length > MAX_BYTES) {
      throw new BonestreamException(source + " holds more than " + MAX_BYTES + " bytes: at most " + MAX_IDS
          + " " + what + "s a run");
    }
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(data)).toString();
    } catch (CharacterCodingException e) {
      throw new BonestreamException(source + " is not UTF-8 text");
    }
    Set<String> ids = new LinkedHashSet<>();
    String[] lines = text.split("\n", -1);
    for (int n = 0; n < lines.length; n++) {
      String id = lines[n].endsWith("\r") ? lines[n].substring(0, lines[n].length() - 1) : lines[n];
      if (id.isBlank()) {
        continue;
      }
      String problem = ControlRecords.problem("a", what.equals("user id") ? null : id,
          what.equals("user id") ? id : null);
      if (problem != null) {
        throw new BonestreamException(source + " line " + (n + 1) + ": " + problem);
      }
      ids.add(id);
      if (ids.size() > MAX_IDS) {
        throw new BonestreamException(source + " holds more than " + MAX_IDS + " " + what + "s: the job holds at "
            + "most " + MAX_IDS + " requests of one adapter that no version has listed yet (docs/continual.md#erasure); "
            + "send the rest once versions list these (--wait)");
      }
    }
    if (ids.isEmpty()) {
      throw new BonestreamException(source + " holds no " + what);
    }
    return new ArrayList<>(ids);
  }
}
