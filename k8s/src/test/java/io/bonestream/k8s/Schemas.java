package io.bonestream.k8s;

import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.deser.BeanDeserializerBuilder;
import com.fasterxml.jackson.databind.deser.BeanDeserializerModifier;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.type.LogicalType;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.openshift.api.model.monitoring.v1.PodMonitor;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import io.strimzi.api.kafka.model.topic.KafkaTopic;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.flink.kubernetes.operator.api.FlinkDeployment;

/**
 * Validates a rendered object against the real model of its kind: Kubernetes' API model (fabric8),
 * the Flink operator's API jar, Strimzi's API jar and the Prometheus Operator's model (fabric8).
 *
 * <p>Strict where the API server is: an unknown field is an error, and so is a scalar of the wrong type
 * (a number where a string belongs, e.g. an env value {@code 1}). The models themselves are lenient: fabric8's
 * and Strimzi's classes collect unknown fields in an {@code additionalProperties} map (a Jackson any-setter)
 * and the Flink operator's spec classes ignore them ({@code @JsonIgnoreProperties(ignoreUnknown = true)}).
 * So the mapper removes every any-setter and ignore-unknown flag, and, as a second net, the object is
 * written back from the model: any field of the input the model did not keep is reported.
 */
final class Schemas {
  /** The kinds the manifests may hold: apiVersion/kind and the model class. */
  static final Map<String, Class<?>> KINDS = Map.of(
      "v1/ConfigMap", ConfigMap.class,
      "v1/Service", Service.class,
      "apps/v1/Deployment", Deployment.class,
      "flink.apache.org/v1beta1/FlinkDeployment", FlinkDeployment.class,
      "kafka.strimzi.io/v1/KafkaTopic", KafkaTopic.class,
      "kafka.strimzi.io/v1/KafkaUser", io.strimzi.api.kafka.model.user.KafkaUser.class,
      "networking.k8s.io/v1/NetworkPolicy", io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy.class,
      "monitoring.coreos.com/v1/PodMonitor", PodMonitor.class,
      "monitoring.coreos.com/v1/ServiceMonitor", ServiceMonitor.class,
      "monitoring.coreos.com/v1/PrometheusRule", io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule.class);

  /**
   * The Flink operator on Maven Central here is 1.10.0, whose FlinkVersion enum ends at v1_20; v2_2 came
   * with operator 1.13. The check of flinkVersion against the project's Flink is FlinkDeploymentTest's;
   * for the model the value is swapped for the newest one it knows.
   */
  static final String NEWEST_FLINK_VERSION_OF_THE_OPERATOR_API = "v1_20";

  static final ObjectMapper STRICT = strictMapper();
  private static final ObjectMapper PLAIN = JsonMapper.builder().build();

  private Schemas() {}

  static String kindKey(JsonNode o) {
    return o.path("apiVersion").asText() + "/" + o.path("kind").asText();
  }

  static String describe(JsonNode o) {
    return o.path("kind").asText() + " " + o.path("metadata").path("name").asText();
  }

  /** Problems of one object; empty when it is valid. */
  static List<String> problems(ObjectNode object) {
    List<String> problems = new ArrayList<>();
    Class<?> type = KINDS.get(kindKey(object));
    if (type == null) {
      problems.add(describe(object) + ": no schema for " + kindKey(object) + " (known: " + KINDS.keySet() + ")");
      return problems;
    }
    ObjectNode input = object.deepCopy();
    if (type == FlinkDeployment.class && input.path("spec").has("flinkVersion")) {
      ((ObjectNode) input.get("spec")).put("flinkVersion", NEWEST_FLINK_VERSION_OF_THE_OPERATOR_API);
    }
    Object model;
    try {
      model = STRICT.treeToValue(input, type);
    } catch (Exception e) {
      problems.add(describe(object) + ": " + firstLine(e.getMessage()));
      return problems;
    }
    JsonNode back = PLAIN.valueToTree(model);
    dropped(input, back, "", problems);
    for (int i = 0; i < problems.size(); i++) {
      problems.set(i, describe(object) + ": " + problems.get(i));
    }
    return problems;
  }

  /** Every field of {@code in} that {@code out} lacks: fields the model dropped. */
  private static void dropped(JsonNode in, JsonNode out, String path, List<String> problems) {
    if (in.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = in.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> f = it.next();
        String p = path + "." + f.getKey();
        JsonNode o = out == null ? null : out.get(f.getKey());
        if (o == null || o.isNull() && !f.getValue().isNull()) {
          if (!isEmpty(f.getValue())) {
            problems.add("field " + p.substring(1) + " is not in the schema (the model dropped it)");
          }
        } else {
          dropped(f.getValue(), o, p, problems);
        }
      }
    } else if (in.isArray()) {
      for (int i = 0; i < in.size(); i++) {
        dropped(in.get(i), out != null && out.isArray() ? out.get(i) : null, path + "[" + i + "]", problems);
      }
    }
  }

  private static boolean isEmpty(JsonNode n) {
    return (n.isContainerNode() && n.isEmpty()) || n.isNull();
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "invalid";
    }
    int cut = s.indexOf("\n at [Source");
    return (cut > 0 ? s.substring(0, cut) : s).replace('\n', ' ');
  }

  private static ObjectMapper strictMapper() {
    SimpleModule strict = new SimpleModule("strict");
    strict.setDeserializerModifier(new BeanDeserializerModifier() {
      @Override
      public BeanDeserializerBuilder updateBuilder(DeserializationConfig config, BeanDescription bean,
          BeanDeserializerBuilder builder) {
        builder.setAnySetter(null);
        builder.setIgnoreUnknownProperties(false);
        return builder;
      }
    });
    ObjectMapper m = JsonMapper.builder()
        .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
        .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
        .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
        .addModule(strict)
        .build();
    // a number or boolean where the schema has a string (e.g. env value: 1) is refused by the API server
    for (CoercionInputShape shape : List.of(CoercionInputShape.Integer, CoercionInputShape.Float,
        CoercionInputShape.Boolean)) {
      m.coercionConfigFor(LogicalType.Textual).setCoercion(shape, CoercionAction.Fail);
    }
    return m;
  }
}
