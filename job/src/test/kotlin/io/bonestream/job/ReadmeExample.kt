package io.bonestream.job

// The Kotlin subscriber shown in the README, compiled with the tests so that it stays correct.

import io.bonestream.engine.model.BaseModel
import io.bonestream.subscriber.AdapterUpdate
import io.bonestream.subscriber.kotlin.adapterSubscriber
import io.bonestream.subscriber.kotlin.updates
import java.nio.file.Path
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking

fun followAdapters(bootstrap: String, model: Path, publicKey: Path) = runBlocking {
    val subscriber = adapterSubscriber {
        bootstrapServers = bootstrap
        baseModel = BaseModel.load(model)
        keep = 5
        trustedKeyFile(publicKey) // only manifests signed with this key are served
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
