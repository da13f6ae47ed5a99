/**
 * The client library of inference services: {@link io.bonestream.subscriber.AdapterSubscriber}
 * follows the adapters topic, verifies each manifest and its payload, and hands immutable
 * {@link io.bonestream.subscriber.AdapterVersion}s to an {@link io.bonestream.subscriber.AdapterRegistry}
 * (aliases, pins, listeners) and to sinks such as {@link io.bonestream.subscriber.PeftExportSink}.
 * Everything here is non-null unless marked {@code @Nullable}.
 */
@NullMarked
package io.bonestream.subscriber;

import org.jspecify.annotations.NullMarked;
