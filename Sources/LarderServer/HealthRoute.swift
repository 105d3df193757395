import Foundation
import Hummingbird
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import Metrics

// GET /health: Redis (each primary of a cluster, and the cluster's state) and the offline store reachable. The offline store's field is `offline`
// (it names no backend); `sqlite` repeats it for clients written before it was renamed.
extension FeatureServer {

    func health() async -> Response {
        var offlineStatus = "ok"
        let redis = await online.redis.health()
        do {
            _ = try await offline.registry.definitions(kind: .entity)
        } catch {
            offlineStatus = "unavailable: \(error)"
        }
        let healthy = redis.isHealthy && offlineStatus == "ok"
        var out: [UInt8] = []
        out += "{\"status\":".utf8
        JSONText.appendString(healthy ? "ok" : "unavailable", to: &out)
        out += ",\"redis\":".utf8
        JSONText.appendString(redis.status, to: &out)
        if let cluster = redis.cluster {
            out += ",\"redis_cluster\":{\"state\":".utf8
            JSONText.appendString(cluster.state, to: &out)
            out += ",\"slots_covered\":\(cluster.slotsCovered),\"primaries\":{".utf8
            for (i, primary) in cluster.primaries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.appendString(primary.endpoint, to: &out)
                out.append(UInt8(ascii: ":"))
                JSONText.appendString(primary.status, to: &out)
            }
            out += "}}".utf8
        }
        out += ",\"offline\":".utf8
        JSONText.appendString(offlineStatus, to: &out)
        out += ",\"sqlite\":".utf8
        JSONText.appendString(offlineStatus, to: &out)
        out += "}".utf8
        return Self.json(out, status: healthy ? .ok : .serviceUnavailable)
    }
}
