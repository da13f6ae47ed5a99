package io.bonestream.operators.decode;

import java.io.Serializable;

/** Where an {@code avro-registry} input finds its schemas (extended by the registry work). */
public record RegistrySettings(String url) implements Serializable {}
