/**
 * Flink functions of the streaming trainer (decode, tokenize, the keyed training operator,
 * snapshot publishing). Empty until the streaming job is built.
 */
package io.bonestream.operators;
