import Foundation
import Hummingbird
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import Metrics

// GET /health: Redis and the offline store reachable. The offline store's field is `offline`
// (it names no backend); `sqlite` repeats it for clients written before it was renamed.
extension FeatureServer {

    func health() async -> Response {
        var redis = "ok", offlineStatus = "ok"
        do {
            let reply = try await online.client.command(["PING"])
            if reply.errorMessage != nil { redis = "error: \(reply)" }
        } catch {
            redis = "unavailable: \(error)"
        }
        do {
            _ = try await offline.registry.definitions(kind: .entity)
        } catch {
            offlineStatus = "unavailable: \(error)"
        }
        let healthy = redis == "ok" && offlineStatus == "ok"
        var out: [UInt8] = []
        out += "{\"status\":".utf8
        JSONText.appendString(healthy ? "ok" : "unavailable", to: &out)
        out += ",\"redis\":".utf8
        JSONText.appendString(redis, to: &out)
        out += ",\"offline\":".utf8
        JSONText.appendString(offlineStatus, to: &out)
        out += ",\"sqlite\":".utf8
        JSONText.appendString(offlineStatus, to: &out)
        out += "}".utf8
        return Self.json(out, status: healthy ? .ok : .serviceUnavailable)
    }
}
