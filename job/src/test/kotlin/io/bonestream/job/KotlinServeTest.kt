package io.bonestream.job

import io.bonestream.engine.TestFiles
import io.bonestream.engine.model.BaseModel
import io.bonestream.engine.tokenizer.Tokenizer
import io.bonestream.serve.InferenceServer
import io.bonestream.subscriber.AdapterRegistry
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.time.Duration
import kotlin.test.Test
import kotlin.test.assertEquals

/** The inference server's bounds, set from Kotlin through the builder. */
class KotlinServeTest {
    @Test
    fun `a bounded server with an API token, built from Kotlin`() {
        val base = BaseModel.load(TestFiles.stories260K())
        Tokenizer.load(TestFiles.stories260K(), base.config()).use { tokenizer ->
            InferenceServer.builder()
                .baseModel(base).tokenizer(tokenizer).registry(AdapterRegistry.builder().build())
                .port(0)
                .apiToken("kotlin-api-token-0123456789")
                .maxPromptTokens(128).maxTokens(16)
                .concurrency(1).queue(4).queueWait(Duration.ofSeconds(5))
                .requestTimeout(Duration.ofSeconds(5))
                .mergedCacheBytes(64L shl 20)
                .build().use { server ->
                    val http = HttpClient.newHttpClient()
                    fun models(token: String?): Int {
                        val b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:${server.port()}/v1/models"))
                        token?.let { b.header("Authorization", "Bearer $it") }
                        return http.send(b.build(), HttpResponse.BodyHandlers.ofString()).statusCode()
                    }
                    assertEquals(401, models(null))
                    assertEquals(200, models("kotlin-api-token-0123456789"))
                }
        }
    }
}
