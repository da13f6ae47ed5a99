package io.bonestream.operators.decode;

import io.bonestream.engine.data.InvalidExampleException;

/** Why a record went to the dead-letter topic (the {@code error_code} field). */
public enum DeadLetterReason {
  /** Not Avro single-object encoded bytes, or a corrupt payload (also an avro-registry record's). */
  NOT_AVRO,
  /** Avro single-object bytes whose schema fingerprint this job does not know. */
  UNKNOWN_SCHEMA,
  /**
   * An avro-registry input's record not in the Confluent wire format: shorter than its 5-byte
   * header, or a first byte other than the magic byte 0.
   */
  NOT_REGISTRY_FRAMED,
  /** A schema id the registry does not know (HTTP 404, error code 40403). */
  UNKNOWN_SCHEMA_ID,
  /**
   * A writer's schema the job cannot read records of: not Avro (Protobuf, JSON Schema), with
   * references, unparsable, or with no fields any record shape (and field-name mapping) reads.
   */
  INCOMPATIBLE_SCHEMA,
  /**
   * The registry could not be asked: unreachable, timing out or answering 5xx after the
   * configured retries, or not a Confluent-compatible API at the configured URL.
   */
  REGISTRY_UNAVAILABLE,
  /** The registry refused the job's credentials (HTTP 401 or 403). */
  REGISTRY_REFUSED_CREDENTIALS,
  /** Not a UTF-8 JSON object (a json input). */
  NOT_JSON,
  INVALID_ADAPTER_ID,
  MISSING_FIELD,
  EMPTY_RESPONSE,
  NO_TARGET_AFTER_TRUNCATION,
  UNKNOWN_ROLE,
  INVALID_TOKENS,
  INVALID_WEIGHT,
  /** An example id that is not UTF-8 text or is longer than 256 characters (from a key or header, unbounded by the value's size cap). */
  INVALID_EXAMPLE_ID,
  /**
   * A user id (metadata {@code user_id}, or the input's {@code user-id} source) that is empty, longer
   * than 256 characters, not UTF-8 text, or neither text nor a whole number.
   */
  INVALID_USER_ID,
  /**
   * A record on the control topic that is not a valid control request (strict JSON
   * {@code {"type": "erase", "adapter_id": ..., "example_id" | "user_id": ..., "retrain": ...}}).
   */
  INVALID_CONTROL_RECORD,
  /** An event time that is neither epoch milliseconds nor an ISO-8601 instant. */
  INVALID_EVENT_TIME,
  /** A record from a topic that no input of the job names (the subscription changed). */
  UNKNOWN_TOPIC,
  TEMPLATE_ERROR,
  /** Content not trained on: tools, tool calls, images or audio, a message's name when refused. */
  UNSUPPORTED_CONTENT,
  /** More bytes than the job's max-record-bytes (checked before decoding). */
  RECORD_TOO_LARGE,
  /** More chat messages than max-messages. */
  TOO_MANY_MESSAGES,
  /** More characters of text than max-text-chars (checked before tokenizing). */
  TEXT_TOO_LONG,
  /** A new adapter while the job already trains max-adapters of them. */
  OVER_ADAPTER_LIMIT,
  /** The adapter's share of its subtask's recent training exceeds max-share while others wait. */
  OVER_SHARE,
  /**
   * An erasure request for an adapter with {@code PendingErasures.MAX_PENDING} applied requests that
   * no version has listed yet (a flood); not applied.
   */
  OVER_ERASURE_LIMIT,
  /** Decoding failed in a way no check foresaw (a bug to report; the record is kept here). */
  UNEXPECTED;

  public static DeadLetterReason of(InvalidExampleException.Reason r) {
    return switch (r) {
      case MALFORMED_JSON -> NOT_JSON;
      case MISSING_FIELD -> MISSING_FIELD;
      case EMPTY_RESPONSE -> EMPTY_RESPONSE;
      case NO_TARGET_AFTER_TRUNCATION -> NO_TARGET_AFTER_TRUNCATION;
      case UNKNOWN_ROLE -> UNKNOWN_ROLE;
      case INVALID_TOKENS -> INVALID_TOKENS;
      case TEMPLATE_ERROR -> TEMPLATE_ERROR;
      case UNSUPPORTED_CONTENT -> UNSUPPORTED_CONTENT;
    };
  }
}
