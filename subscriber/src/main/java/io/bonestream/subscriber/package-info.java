/**
 * The client library for inference services that consume adapter snapshots. Empty until the
 * streaming job publishes them.
 */
package io.bonestream.subscriber;
