package io.bonestream.subscriber.kotlin

import io.bonestream.core.model.HostModel
import io.bonestream.subscriber.AdapterListener
import io.bonestream.subscriber.AdapterRegistry
import io.bonestream.subscriber.AdapterSubscriber
import io.bonestream.subscriber.AdapterUpdate
import io.bonestream.subscriber.BlobFetcher
import io.bonestream.subscriber.S3BlobFetcher
import io.bonestream.subscriber.SnapshotVerifier
import io.bonestream.subscriber.SubscriberMetrics
import java.util.Properties
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.channels.trySendBlocking
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow

/**
 * Every accepted or refused version as a cold [Flow]: collecting it registers a listener, cancelling
 * the collection removes it. Updates are delivered in order; a slow collector makes the subscriber
 * wait rather than drop one.
 */
fun AdapterSubscriber.updates(): Flow<AdapterUpdate> = callbackFlow {
    val listener = AdapterListener { update -> trySendBlocking(update) }
    addListener(listener)
    awaitClose { removeListener(listener) }
}.buffer(capacity = 64, onBufferOverflow = BufferOverflow.SUSPEND)

/** Only the accepted versions. */
fun AdapterSubscriber.acceptedVersions(): Flow<io.bonestream.subscriber.AdapterVersion> =
    kotlinx.coroutines.flow.flow {
        updates().collect { if (it is AdapterUpdate.Accepted) emit(it.adapter) }
    }

/** The settings of [adapterSubscriber], as Kotlin properties. */
class AdapterSubscriberSettings internal constructor() {
    var bootstrapServers: String = ""
    var topic: String = "bonestream.adapters"
    var baseModel: HostModel? = null
    var registry: AdapterRegistry? = null
    var keep: Int = 3
    var verifier: SnapshotVerifier = SnapshotVerifier.NONE
    var metrics: SubscriberMetrics? = null
    /** Serve unsigned manifests; without trusted keys nothing is checked. */
    var allowUnsigned: Boolean = false
    /** Keep each adapter's last accepted manifest and highest version here (no rollback after a restart). */
    var stateDir: java.nio.file.Path? = null
    internal val kafka = Properties()
    internal val trustedKeys = mutableListOf<java.security.PublicKey>()
    internal val trustedKeyFiles = mutableListOf<java.nio.file.Path>()
    internal val fetchers = mutableMapOf<String, BlobFetcher>()

    /** A Kafka client property, e.g. `kafka("security.protocol", "SSL")`. */
    fun kafka(key: String, value: String) {
        kafka[key] = value
    }

    /** Trusts manifests signed with this Ed25519 public key (several during a rotation). */
    fun trustedKey(key: java.security.PublicKey) {
        trustedKeys.add(key)
    }

    /** Trusts the public key in a PEM file (`bonestream keygen` writes `<name>.pub`). */
    fun trustedKeyFile(file: java.nio.file.Path) {
        trustedKeyFiles.add(file)
    }

    /** A claim-check fetcher for a URI scheme, e.g. `blobFetcher("s3") { uri -> ... }`. */
    fun blobFetcher(scheme: String, fetcher: BlobFetcher) {
        fetchers[scheme] = fetcher
    }

    /**
     * Claim checks on S3 or an S3-compatible store (`s3://`, `s3a://`, `s3p://`), e.g.
     * `s3 { endpoint("http://minio:9000"); credentials(S3Credentials.fromEnvironment()) }`.
     */
    fun s3(configure: S3BlobFetcher.Builder.() -> Unit) {
        val fetcher = S3BlobFetcher.builder().apply(configure).build()
        S3BlobFetcher.SCHEMES.forEach { fetchers[it] = fetcher }
    }
}

/**
 * Builds an [AdapterSubscriber] with named settings:
 * ```
 * val subscriber = adapterSubscriber {
 *     bootstrapServers = "localhost:9092"
 *     baseModel = model
 *     keep = 5
 *     trustedKeyFile(Path.of("keys/signing.pub"))
 * }
 * ```
 */
fun adapterSubscriber(configure: AdapterSubscriberSettings.() -> Unit): AdapterSubscriber {
    val s = AdapterSubscriberSettings().apply(configure)
    val registry = s.registry ?: AdapterRegistry.builder().keep(s.keep).build()
    val b = AdapterSubscriber.builder()
        .bootstrapServers(s.bootstrapServers)
        .topic(s.topic)
        .kafkaProperties(s.kafka)
        .registry(registry)
        .verifier(s.verifier)
        .allowUnsigned(s.allowUnsigned)
        .stateDir(s.stateDir)
    s.trustedKeys.forEach { b.trustedKey(it) }
    s.trustedKeyFiles.forEach { b.trustedKeyFile(it) }
    s.baseModel?.let { b.baseModel(it) }
    s.metrics?.let { b.metrics(it) }
    s.fetchers.forEach { (scheme, f) -> b.blobFetcher(scheme, f) }
    return b.build()
}
