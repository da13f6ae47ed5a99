package io.bonestream.core.util;

import io.bonestream.core.BonestreamException;
import java.util.Arrays;
import java.util.stream.Collectors;

/** An option value with a lower-case name used on the command line and in files. */
public interface Named {
  String id();

  /** The constant of {@code type} named {@code id}; an unknown name lists the known ones. */
  static <E extends Enum<E> & Named> E parse(Class<E> type, String id, String what) {
    for (E e : type.getEnumConstants()) {
      if (e.id().equals(id)) {
        return e;
      }
    }
    throw new BonestreamException("unknown " + what + " '" + id + "' (known: "
        + Arrays.stream(type.getEnumConstants()).map(Named::id).collect(Collectors.joining(", ")) + ")");
  }
}
