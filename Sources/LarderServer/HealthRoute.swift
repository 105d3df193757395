import Foundation
import Hummingbird
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import Metrics

// GET /health: Redis and SQLite reachable.
extension FeatureServer {

    func health() async -> Response {
        var redis = "ok", sqlite = "ok"
        do {
            let reply = try await online.client.command(["PING"])
            if reply.errorMessage != nil { redis = "error: \(reply)" }
        } catch {
            redis = "unavailable: \(error)"
        }
        do {
            _ = try await offline.registry.definitions(kind: .entity)
        } catch {
            sqlite = "unavailable: \(error)"
        }
        let healthy = redis == "ok" && sqlite == "ok"
        var out: [UInt8] = []
        out += "{\"status\":".utf8
        JSONText.appendString(healthy ? "ok" : "unavailable", to: &out)
        out += ",\"redis\":".utf8
        JSONText.appendString(redis, to: &out)
        out += ",\"sqlite\":".utf8
        JSONText.appendString(sqlite, to: &out)
        out += "}".utf8
        return Self.json(out, status: healthy ? .ok : .serviceUnavailable)
    }
}
