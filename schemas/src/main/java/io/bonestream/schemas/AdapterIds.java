package io.bonestream.schemas;

import java.util.regex.Pattern;

/**
 * Adapter ids: 1 to 128 of {@code [A-Za-z0-9._-]}, and not {@code .} or {@code ..}. Ids become blob
 * store paths and Kafka keys, so nothing else is accepted.
 */
public final class AdapterIds {
  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9._-]{1,128}");
  /** The rule, as error messages state it. */
  public static final String RULE = "1-128 characters of [A-Za-z0-9._-] (nor . or ..)";

  private AdapterIds() {}

  public static boolean isValid(String id) {
    return id != null && VALID.matcher(id).matches() && !id.equals(".") && !id.equals("..");
  }

  /** {@code id} fit for a log line: a valid id as it is, anything else cut and with unprintables as '?'. */
  public static String printable(String id) {
    if (isValid(id)) {
      return id;
    }
    String cut = id.length() > 64 ? id.substring(0, 64) + "..." : id;
    return "'" + cut.replaceAll("[^\\x20-\\x7E]", "?") + "' (not a valid adapter id)";
  }
}
