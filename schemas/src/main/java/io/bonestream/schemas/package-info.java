/**
 * Avro schemas of the streaming job's topics (instruction records, adapter snapshots, dead
 * letters). Empty until the streaming job is built.
 */
package io.bonestream.schemas;
