package io.bonestream.job

import io.bonestream.core.adapters.AdapterConfig
import io.bonestream.core.adapters.AdapterMethod
import io.bonestream.engine.TestFiles
import io.bonestream.engine.config.TrainConfig
import io.bonestream.engine.model.BaseModel
import io.bonestream.operators.StreamingJob
import io.bonestream.operators.decode.ControlTrust
import io.bonestream.operators.publish.SnapshotPolicy
import io.bonestream.operators.train.AdapterProfile
import io.bonestream.operators.train.AdapterProfiles
import io.bonestream.operators.train.BatchPolicy
import io.bonestream.operators.train.ContinualPolicy
import io.bonestream.operators.train.EvalPolicy
import io.bonestream.schemas.SigningKeys
import io.bonestream.subscriber.kotlin.acceptedVersions
import io.bonestream.subscriber.kotlin.adapterSubscriber
import java.nio.file.Path
import java.time.Duration
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.apache.flink.core.execution.CheckpointingMode
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment
import org.apache.flink.test.junit5.MiniClusterExtension
import org.junit.jupiter.api.extension.RegisterExtension
import org.junit.jupiter.api.io.TempDir

/**
 * The training pipeline assembled in Kotlin from the operators module, on a Flink MiniCluster and
 * a real broker; its versions read back through the Kotlin Flow API.
 */
class KotlinPipelineTest {
    companion object {
        @JvmField
        @RegisterExtension
        val flink = MiniClusterExtension(
            MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(1).build()
        )
    }

    @TempDir
    lateinit var tmp: Path

    @Test
    fun `a pipeline built in Kotlin trains and publishes versions`() {
        EmbeddedKafka.start(0, tmp.resolve("kafka"), true).use { kafka ->
            kafka.createTopic("kt.instructions", 1, false)
            kafka.createTopic("kt.adapters", 1, true)
            kafka.createTopic("kt.dlq", 1, false)
            val base = BaseModel.load(TestFiles.stories260K())
            // erasure requests only when signed with this key (none come here)
            val controlKey = SigningKeys.generate()
            val job = StreamingJob.builder()
                .bootstrapServers(kafka.bootstrapServers())
                .instructionsTopic("kt.instructions")
                .adaptersTopic("kt.adapters")
                .deadLetterTopic("kt.dlq")
                .modelDir(TestFiles.stories260K().toString())
                .validatedWith(base)
                .profiles(
                    AdapterProfiles.of(
                        AdapterProfile(
                            AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build(),
                            TrainConfig.builder().lr(1e-2).batchSize(4).build(),
                            EvalPolicy.OFF,
                            // replay one past example into each step, and watch for drift
                            ContinualPolicy(
                                ContinualPolicy.Anchor.OFF,
                                ContinualPolicy.Replay(0.25, 64, 1L shl 20),
                                ContinualPolicy.Drift.DEFAULT,
                                false,
                            ),
                        )
                    )
                )
                .batchPolicy(BatchPolicy.ofExamples(4))
                .snapshotPolicy(SnapshotPolicy(2, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT, tmp.resolve("blobs").toUri().toString()))
                .maxSeqLen(64)
                .transactionalIdPrefix("kotlin")
                .controlTrust(ControlTrust(listOf(SigningKeys.publicPem(controlKey.public)), Duration.ofHours(1)))
                .build()
            assertTrue(job.controlTrust().requiresSignature())
            val env = StreamExecutionEnvironment.getExecutionEnvironment()
            env.setParallelism(1)
            env.enableCheckpointing(500, CheckpointingMode.EXACTLY_ONCE)
            job.addTo(env)
            val client = env.executeAsync("kotlin-pipeline")
            try {
                StreamingHarness.produce(
                    kafka.bootstrapServers(), "kt.instructions",
                    StreamingHarness.asRecords("kt.instructions", StreamingHarness.colors("kotlin", 16)),
                )
                adapterSubscriber {
                    allowUnsigned = true
                    bootstrapServers = kafka.bootstrapServers()
                    topic = "kt.adapters"
                    baseModel = base.host()
                }.use { subscriber ->
                    val versions = runBlocking {
                        withTimeout(120_000) {
                            val collected = async { subscriber.acceptedVersions().take(2).toList() }
                            delay(200)
                            subscriber.start()
                            collected.await()
                        }
                    }
                    assertEquals(listOf("kotlin@1", "kotlin@2"), versions.map { it.name() })
                    assertEquals("bone", versions[1].method())
                    assertTrue(versions[1].stats().step == 4L)
                    // steps 2 to 4 each mixed in one replay (the reservoir is empty before the first)
                    assertEquals(3L, versions[1].stats().replayedExamples)
                    assertEquals(16L + 3L, versions[1].stats().examples)
                }
            } finally {
                client.cancel().get()
            }
        }
    }
}
