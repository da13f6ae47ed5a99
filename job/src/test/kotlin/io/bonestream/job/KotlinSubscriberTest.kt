package io.bonestream.job

import io.bonestream.core.adapters.AdapterMethod
import io.bonestream.engine.TestFiles
import io.bonestream.engine.model.BaseModel
import io.bonestream.engine.tokenizer.Tokenizer
import io.bonestream.subscriber.AdapterUpdate
import io.bonestream.subscriber.kotlin.adapterSubscriber
import io.bonestream.subscriber.kotlin.updates
import java.nio.file.Path
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.io.TempDir

/** The Kotlin face of the subscriber: a DSL to build it, a Flow of updates, against a real broker. */
class KotlinSubscriberTest {
    @TempDir
    lateinit var tmp: Path

    @Test
    fun `updates arrive as a Flow, in order`() {
        EmbeddedKafka.start(0, tmp.resolve("kafka"), true).use { kafka ->
            kafka.createTopic("kotlin.adapters", 1, true)
            val base = BaseModel.load(TestFiles.stories260K())
            Tokenizer.load(TestFiles.stories260K(), base.config()).use { tokenizer ->
                val subscriber = adapterSubscriber {
                    allowUnsigned = true
                    bootstrapServers = kafka.bootstrapServers()
                    topic = "kotlin.adapters"
                    baseModel = base.host()
                    keep = 2
                    stateDir = tmp.resolve("state")
                }
                subscriber.use {
                    val manifests = Manifests(base, tokenizer, "kt", AdapterMethod.BONE)
                    val updates = runBlocking {
                        withTimeout(60_000) {
                            val collected = async {
                                subscriber.updates().take(3).toList()
                            }
                            delay(200) // the collector registers its listener first
                            subscriber.start()
                            for (v in 1L..3L) {
                                Manifests.publish(kafka.bootstrapServers(), "kotlin.adapters", manifests.next(v, 1))
                            }
                            collected.await()
                        }
                    }
                    assertEquals(listOf(1L, 2L, 3L), updates.map { it.version() })
                    updates.forEach { assertIs<AdapterUpdate.Accepted>(it) }
                    assertEquals(listOf(2L, 3L), subscriber.registry().versions("kt").map { it.version() })
                    assertEquals("kt@3", subscriber.registry().resolve("kt").get().name())
                    assertEquals("3", java.nio.file.Files.readString(tmp.resolve("state/kt.floor")).trim())
                }
            }
        }
    }
}
