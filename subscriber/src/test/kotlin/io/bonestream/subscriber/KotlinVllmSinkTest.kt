package io.bonestream.subscriber

import io.bonestream.core.adapters.AdapterConfig
import io.bonestream.core.adapters.AdapterMethod
import java.nio.file.Path
import java.time.Duration
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.io.TempDir

/** The vLLM runtime sink from Kotlin: built with its Java builder, fed by a subscriber, against the emulated vLLM. */
@Timeout(60)
class KotlinVllmSinkTest {
    @TempDir
    lateinit var tmp: Path

    @Test
    fun `a Kotlin service moves vLLM's alias to each new version`() {
        val exports = tmp.resolve("exports")
        VllmEmulator.start(exports, "/adapters", "/models/base", 16).use { vllm ->
            val subscriber = AdapterSubscriber.builder().bootstrapServers("unused:9092").baseModel(TestModels.BASE)
                .allowUnsigned(true).build()
            val metrics = SubscriberMetrics.create(subscriber.registry())
            val sink = VllmRuntimeSink.builder()
                .url(vllm.url())
                .exportDir(exports)
                .loraPathPrefix("/adapters") // where the vLLM container mounts the same volume
                .baseModelName("/models/base") // vLLM's --model
                .maxLoraRank(16)
                .keep(2)
                .requestTimeout(Duration.ofSeconds(10))
                .metrics(metrics)
                .build()
            subscriber.addListener(sink)
            val config = AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build()
            for (v in 1L..2L) {
                subscriber.apply(TestManifests.record(TestManifests.inline("kt", v, config, TestModels.files(config, v)), v))
            }
            assertEquals("/adapters/kt@2", vllm.loras()["kt"]?.path())
            assertEquals(setOf("kt", "kt@1", "kt@2"), vllm.loras().keys)
            assertEquals(2L, sink.aliasVersion("kt").orElseThrow())
            assertTrue(metrics.scrape().contains("bonestream_subscriber_vllm_alias_version{adapter=\"kt\"} 2.0"))
        }
    }
}
