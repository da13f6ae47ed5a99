package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/** Every command's --help description is wrapped prose, not the source's line breaks. */
@Timeout(60)
class HelpTextTest {
  @Test
  void descriptionPiecesJoinIntoParagraphs() {
    assertArrayEquals(new String[] {"Runs the job until it is stopped. It resumes."},
        BonestreamCli.paragraphs(new String[] {"Runs the job until", "it is stopped.", " It resumes."}));
    // an option starting a piece after a sentence starts a paragraph; after a broken sentence it does not
    assertArrayEquals(new String[] {"First: held-out loss every --eval-every steps.", "--scenario drift: more."},
        BonestreamCli.paragraphs(new String[] {"First: held-out loss every", "--eval-every steps.",
            "--scenario drift: more."}));
    assertArrayEquals(new String[] {"against a device-to-device copy"},
        BonestreamCli.paragraphs(new String[] {"against a device-to-", "device copy"}));
    assertArrayEquals(new String[] {"one", "two"}, BonestreamCli.paragraphs(new String[] {"one", "", "two"}));
  }

  /**
   * No description line of any command's help is cut short inside a sentence: a line under 55
   * columns must end one (., :, or a closing parenthesis).
   */
  @Test
  void everyCommandsHelpWrapsItsDescription() {
    CommandLine cli = BonestreamCli.commandLine();
    List<String> ragged = new ArrayList<>();
    int commands = 0;
    for (var e : cli.getSubcommands().entrySet()) {
      if (e.getKey().equals("help")) {
        continue;
      }
      commands++;
      List<String> description = new ArrayList<>();
      boolean synopsis = true;
      for (String line : e.getValue().getUsageMessage(CommandLine.Help.Ansi.OFF).split("\n")) {
        if (line.startsWith("Usage:") || synopsis && line.startsWith(" ")) {
          continue; // the synopsis and its continuation lines
        }
        synopsis = false;
        if (line.startsWith(" ")) {
          break; // the options
        }
        description.add(line);
      }
      assertTrue(!description.isEmpty(), e.getKey() + " has no description");
      for (int i = 0; i < description.size() - 1; i++) {
        String l = description.get(i).strip();
        if (l.length() < 55 && !l.matches(".*[.:)]$")) {
          ragged.add(e.getKey() + ": \"" + l + "\"");
        }
      }
    }
    assertTrue(commands >= 15, commands + " commands");
    assertEquals(List.of(), ragged);
  }

  /** An option's description is one string: picocli wraps it in its column (pieces would each end a line). */
  @Test
  void everyOptionsDescriptionIsOnePiece() {
    List<String> pieces = new ArrayList<>();
    for (var e : BonestreamCli.commandLine().getSubcommands().entrySet()) {
      for (CommandLine.Model.OptionSpec o : e.getValue().getCommandSpec().options()) {
        if (o.description().length > 1) {
          pieces.add(e.getKey() + " " + o.longestName());
        }
      }
    }
    assertEquals(List.of(), pieces);
  }

  /** Every option says what it is: none shows a bare name, or only its default, in --help. */
  @Test
  void everyOptionIsDescribed() {
    List<String> bare = new ArrayList<>();
    for (var e : BonestreamCli.commandLine().getSubcommands().entrySet()) {
      for (CommandLine.Model.OptionSpec o : e.getValue().getCommandSpec().options()) {
        String text = String.join(" ", o.description()).replaceAll("\\(default: [^)]*\\)", "").strip();
        if (text.isEmpty() && !o.usageHelp() && !o.versionHelp() && !o.hidden()) {
          bare.add(e.getKey() + " " + o.longestName());
        }
      }
    }
    assertEquals(List.of(), bare);
  }
}
