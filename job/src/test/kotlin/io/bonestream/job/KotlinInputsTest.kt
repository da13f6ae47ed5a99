package io.bonestream.job

import io.bonestream.engine.TestFiles
import io.bonestream.engine.data.FieldNames
import io.bonestream.engine.data.RecordShape
import io.bonestream.operators.KafkaInput
import io.bonestream.operators.decode.DeadLetterReason
import io.bonestream.operators.decode.InputFormat
import io.bonestream.operators.decode.InputLimits
import io.bonestream.operators.decode.InputSpec
import io.bonestream.operators.decode.RecordCheck
import io.bonestream.operators.decode.ValueSource
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** An input of the job described in Kotlin, and records checked against it as the job decodes them. */
class KotlinInputsTest {
    @Test
    fun `an input built in Kotlin decodes records as the job would`() {
        val tickets = InputSpec.builder()
            .topic("support.tickets")
            .format(InputFormat.JSON)
            .shape(RecordShape.PROMPT_RESPONSE)
            .fields(FieldNames.of(mapOf("prompt" to "ticket.question", "response" to "ticket.answer")))
            .adapterId(ValueSource.Header("x-tenant"))
            .build()
        RecordCheck.open(TestFiles.stories260K(), 64, InputLimits.DEFAULT, listOf(tickets)).use { check ->
            val record = """{"ticket": {"question": "How do I reset my password?", "answer": "Open Settings."}}"""
            val accepted = check.check(
                KafkaInput(null, record.toByteArray(), "support.tickets", 0, 5, 0)
                    .withHeaders(arrayOf("x-tenant"), arrayOf("acme".toByteArray()))
            )
            assertTrue(accepted.accepted(), accepted.message())
            assertEquals("acme", accepted.item()!!.adapterId)
            assertEquals("support.tickets/0/5", accepted.item()!!.exampleId)

            val refused = check.check(KafkaInput(null, record.toByteArray(), "support.tickets", 0, 6, 0))
            assertEquals(DeadLetterReason.INVALID_ADAPTER_ID, refused.reason())
        }
    }
}
