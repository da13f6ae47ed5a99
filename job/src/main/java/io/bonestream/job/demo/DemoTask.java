package io.bonestream.job.demo;

import io.bonestream.core.util.Rng;
import java.util.List;

/**
 * A synthetic instruction task that stories260K can learn within minutes: a story sentence and a
 * question about it, answered in one fixed pattern. Training uses one set of names; the held-out
 * prompts use names never trained on, so a falling held-out loss is learning, not memory.
 */
public enum DemoTask {
  COLORS("colors"),
  SOUNDS("sounds"),
  OPPOSITES("opposites"),
  COUNTING("counting");

  /** A prompt and its answer. */
  public record Pair(String prompt, String response) {}

  private static final List<String> TRAIN_NAMES =
      List.of("Lily", "Tom", "Sue", "Ben", "Mia", "Max", "Anna", "Sam", "Tim", "Amy", "Bob", "Kim");
  private static final List<String> HELD_OUT_NAMES = List.of("Jack", "Lucy", "Jane", "Mark");
  private static final List<String> COLOR = List.of("red", "blue", "green", "yellow", "pink", "brown");
  private static final List<String> THING = List.of("ball", "car", "hat", "box", "kite", "cup");
  private static final List<String[]> ANIMAL = List.of(new String[] {"cow", "moo"},
      new String[] {"dog", "woof"}, new String[] {"cat", "meow"}, new String[] {"duck", "quack"},
      new String[] {"sheep", "baa"}, new String[] {"bird", "tweet"});
  private static final List<String[]> OPPOSITE = List.of(new String[] {"big", "small"},
      new String[] {"hot", "cold"}, new String[] {"happy", "sad"}, new String[] {"fast", "slow"},
      new String[] {"old", "new"}, new String[] {"good", "bad"});
  private static final List<String> NUMBER = List.of("one", "two", "three", "four", "five", "six", "seven");

  private final String id;

  DemoTask(String id) {
    this.id = id;
  }

  public String id() {
    return id;
  }

  /** The i-th task, cycling. */
  public static DemoTask nth(int i) {
    return values()[i % values().length];
  }

  public Pair trainExample(Rng rng) {
    return example(TRAIN_NAMES.get(rng.nextInt(TRAIN_NAMES.size())), rng);
  }

  /** A fixed held-out set: names never seen in training. */
  public List<Pair> heldOut() {
    Rng rng = new Rng(7 + ordinal());
    java.util.ArrayList<Pair> out = new java.util.ArrayList<>();
    for (int i = 0; i < 16; i++) {
      out.add(example(HELD_OUT_NAMES.get(i % HELD_OUT_NAMES.size()), rng));
    }
    return out;
  }

  private Pair example(String name, Rng rng) {
    return switch (this) {
      case COLORS -> {
        String c = COLOR.get(rng.nextInt(COLOR.size()));
        String t = THING.get(rng.nextInt(THING.size()));
        yield new Pair(name + " has a " + c + " " + t + ". What color is the " + t + "?",
            "The " + t + " is " + c + ".");
      }
      case SOUNDS -> {
        String[] a = ANIMAL.get(rng.nextInt(ANIMAL.size()));
        yield new Pair(name + " saw a " + a[0] + ". What does the " + a[0] + " say?",
            "The " + a[0] + " says " + a[1] + ".");
      }
      case OPPOSITES -> {
        String[] o = OPPOSITE.get(rng.nextInt(OPPOSITE.size()));
        yield new Pair(name + " said " + o[0] + ". What is the opposite of " + o[0] + "?",
            "The opposite of " + o[0] + " is " + o[1] + ".");
      }
      case COUNTING -> {
        int n = rng.nextInt(NUMBER.size() - 1);
        String t = THING.get(rng.nextInt(THING.size()));
        yield new Pair(name + " had " + NUMBER.get(n) + " " + t + " and found one more. How many now?",
            name + " has " + NUMBER.get(n + 1) + ".");
      }
    };
  }
}
