package io.bonestream.operators.train;

import io.bonestream.operators.decode.ControlTrust;
import java.util.Iterator;
import java.util.Map;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;

/**
 * The signed control requests an adapter acted on (keyed map state {@code signed-requests}: request
 * id → the last record timestamp at which a copy would still be accepted), so that a copy of one
 * written again within its max age is refused instead of acted on again. A request is remembered
 * until no copy of it can pass the age check; at most {@link #MAX_REMEMBERED} per adapter, the ones
 * soonest to expire forgotten first when more come.
 */
final class SignedRequestsSeen {
  static final int MAX_REMEMBERED = 16_384;

  private SignedRequestsSeen() {}

  static MapStateDescriptor<Long, Long> descriptor() {
    return new MapStateDescriptor<>("signed-requests", Types.LONG, Types.LONG);
  }

  static boolean seen(MapState<Long, Long> state, long requestId) throws Exception {
    return state.contains(requestId);
  }

  /**
   * Remembers a request acted on; {@code remembered} is how many the state holds, the answer how
   * many it holds after.
   */
  static int remember(MapState<Long, Long> state, int remembered, long requestId, long issuedAt, long expiresAt)
      throws Exception {
    if (remembered >= MAX_REMEMBERED) {
      // this request's record was written no earlier than this (the age check allows that much skew);
      // a request that expired before it can no longer be copied with a later timestamp
      long writtenNoEarlier = issuedAt - ControlTrust.CLOCK_SKEW.toMillis();
      remembered = 0;
      Map.Entry<Long, Long> soonest = null;
      for (Iterator<Map.Entry<Long, Long>> it = state.iterator(); it.hasNext(); ) {
        Map.Entry<Long, Long> e = it.next();
        if (e.getValue() < writtenNoEarlier) {
          it.remove();
        } else {
          remembered++;
          if (soonest == null || e.getValue() < soonest.getValue()) {
            soonest = Map.entry(e.getKey(), e.getValue());
          }
        }
      }
      if (remembered >= MAX_REMEMBERED && soonest != null) {
        state.remove(soonest.getKey());
        remembered--;
      }
    }
    state.put(requestId, expiresAt);
    return remembered + 1;
  }
}
