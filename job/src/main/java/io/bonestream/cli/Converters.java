package io.bonestream.cli;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.ScheduleKind;
import picocli.CommandLine;

/** picocli converters for the engine's lower-case option values. */
final class Converters {
  private Converters() {}

  static final class Method implements CommandLine.ITypeConverter<AdapterMethod> {
    @Override
    public AdapterMethod convert(String v) {
      return convertOrFail(() -> AdapterMethod.fromId(v));
    }
  }

  static final class Optimizer implements CommandLine.ITypeConverter<OptimizerKind> {
    @Override
    public OptimizerKind convert(String v) {
      return convertOrFail(() -> OptimizerKind.fromId(v));
    }
  }

  static final class Schedule implements CommandLine.ITypeConverter<ScheduleKind> {
    @Override
    public ScheduleKind convert(String v) {
      return convertOrFail(() -> ScheduleKind.fromId(v));
    }
  }

  static final class Format implements CommandLine.ITypeConverter<PeftFormat> {
    @Override
    public PeftFormat convert(String v) {
      return convertOrFail(() -> PeftFormat.fromId(v));
    }
  }

  private static <T> T convertOrFail(java.util.function.Supplier<T> f) {
    try {
      return f.get();
    } catch (RuntimeException e) {
      throw new CommandLine.TypeConversionException(e.getMessage());
    }
  }
}
