package io.bonestream.operators.decode;

import io.bonestream.operators.KafkaInput;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;

/**
 * The topics of all inputs as one Kafka source subscription: a list of names, or, when any input
 * gives a pattern, one pattern matching every name and pattern. One source keeps the job graph
 * (and the source's state in checkpoints) the same as with one topic.
 */
public record Subscription(List<String> topics, Pattern pattern) {
  public static Subscription of(List<InputSpec> inputs) {
    Set<String> names = new LinkedHashSet<>();
    List<String> alternatives = new ArrayList<>();
    for (InputSpec in : inputs) {
      names.addAll(in.topics());
      in.topics().forEach(t -> alternatives.add(Pattern.quote(t)));
      if (in.topicPattern() != null) {
        alternatives.add("(?:" + in.topicPattern() + ")");
      }
    }
    boolean anyPattern = inputs.stream().anyMatch(i -> i.topicPattern() != null);
    return new Subscription(anyPattern ? List.of() : List.copyOf(names),
        anyPattern ? Pattern.compile(alternatives.stream().collect(Collectors.joining("|"))) : null);
  }

  public void applyTo(KafkaSourceBuilder<KafkaInput> source) {
    if (pattern != null) {
      source.setTopicPattern(pattern);
    } else {
      source.setTopics(topics);
    }
  }
}
