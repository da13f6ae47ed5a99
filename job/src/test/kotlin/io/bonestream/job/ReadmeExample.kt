package io.bonestream.job

// The Kotlin subscriber shown in the README, compiled with the tests so that it stays correct.

import io.bonestream.core.model.HostModel
import io.bonestream.subscriber.AdapterUpdate
import io.bonestream.subscriber.S3Credentials
import io.bonestream.subscriber.kotlin.adapterSubscriber
import io.bonestream.subscriber.kotlin.updates
import java.nio.file.Path
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking

fun followAdapters(bootstrap: String, model: Path, publicKey: Path, s3Endpoint: String) = runBlocking {
    val subscriber = adapterSubscriber {
        bootstrapServers = bootstrap
        baseModel = HostModel.load(model)
        keep = 5
        trustedKeyFile(publicKey) // only manifests signed with this key are served
        s3 { // claim checks on s3://, s3a://, s3p://
            endpoint(s3Endpoint) // e.g. http://minio:9000 (path-style); AWS's endpoint by default
            credentials(S3Credentials.fromEnvironment()) // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
        }
    }
    launch {
        subscriber.updates().collect { update ->
            when (update) {
                is AdapterUpdate.Accepted -> println("serving ${update.adapter.name()}")
                is AdapterUpdate.Refused -> println("refused ${update.adapterId}@${update.version}: ${update.reason}")
            }
        }
    }
    subscriber.start()
}
