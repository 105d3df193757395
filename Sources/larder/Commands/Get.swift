import ArgumentParser
import Features
import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look up online feature values, as the service would serve them now.",
        discussion: """
            --entity takes the join keys of one row, e.g. --entity driver_id=1001 (composite: \
            --entity driver_id=1001,city=ams); repeat it for more rows. --request gives request \
            fields for on-demand features (val_to_add=1), for every row.
            """
    )

    @OptionGroup var project: ProjectOptions

    @Option(help: "A feature service.")
    var service: String?

    @Option(help: "Comma-separated view:feature references (or view for all its features).")
    var features: String?

    @Option(help: "Join keys of one entity row: name=value[,name=value]. Repeatable.")
    var entity: [String] = []

    @Option(help: "A request field for on-demand features: name=value. Repeatable.")
    var request: [String] = []

    @Flag(help: "Print JSON (the shape of POST /v1/features) instead of a table.")
    var json = false

    func validate() throws {
        guard (service == nil) != (features == nil) else {
            throw ValidationError("give either --service NAME or --features view:feature,...")
        }
        guard !entity.isEmpty else { throw ValidationError("give at least one --entity, e.g. --entity driver_id=1001") }
    }

    func run() async throws {
        let (configuration, store) = try await project.openBackend(ifDefinitionsStale: .warn)
        defer { store.close() }
        let resolved: [ResolvedFeature]
        do {
            resolved =
                try service.map { try Features.repository.resolve(serviceNamed: $0) }
                ?? Features.repository.resolve(
                    references: features!.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        } catch {
            throw ValidationError("\(error)")
        }
        let deployment = try await Deployment.load(repository: Features.repository, offline: store, project: configuration.project)
        let lookup = try deployment.lookup(resolved)

        var fields: [String: Value] = [:]
        for pair in request {
            let (name, text) = try Get.split(pair, option: "--request")
            guard let field = lookup.plan.requestFields.first(where: { $0.key == name }) else {
                throw ValidationError("--request \(name): no requested on-demand feature reads '\(name)'")
            }
            fields[name] = try Get.parse(text, as: field.type, what: "--request \(name)")
        }
        let rows = try entity.enumerated().map { i, text in
            var row = EntityRow(keys: [:], requestFields: fields)
            for pair in text.split(separator: ",") {
                let (name, value) = try Get.split(String(pair), option: "--entity")
                guard let key = lookup.requiredKeys.first(where: { $0.name == name }) else {
                    throw ValidationError(
                        "--entity \(text): unknown join key '\(name)'; expected \(lookup.requiredKeys.map(\.name).joined(separator: ", "))")
                }
                row.keys[name] = try Get.parse(value, as: key.type, what: "--entity \(name)")
            }
            do { try lookup.validate(row, index: i) } catch { throw ValidationError("\(error)") }
            return row
        }
        let online = try configuration.onlineStore(poolSize: 1)
        let stale = deployment.staleViews
        let now = Timestamp.now()
        let served = try await lookup.lookup(rows, at: now, store: online, stale: stale)
        let names = resolved.map(\.reference)
        if json {
            let out: [[String: Any]] = zip(rows, served).map { row, values in
                [
                    "entity": row.keys.mapValues(Get.jsonObject),
                    "features": Dictionary(
                        uniqueKeysWithValues: zip(names, values).map { name, f in
                            (
                                name,
                                [
                                    "value": Get.jsonObject(f.value), "status": f.status.rawValue,
                                    "event_timestamp": f.eventTime.map { $0.description as Any } ?? NSNull(),
                                    "age_seconds": f.eventTime.map { Double(now.microseconds - $0.microseconds) / 1e6 as Any } ?? NSNull(),
                                ] as [String: Any]
                            )
                        }),
                ]
            }
            print(try JSONOutput.render(out))
            return
        }
        var table = TextTable("ENTITY", "FEATURE", "VALUE", "STATUS", "EVENT TIME")
        for (row, values) in zip(rows, served) {
            let entityText = lookup.requiredKeys.map { "\($0.name)=\(row.keys[$0.name]?.description ?? "")" }.joined(separator: ",")
            for (name, f) in zip(names, values) {
                table.add([entityText, name, f.value.isNull ? "" : f.value.description, f.status.rawValue, f.eventTime?.description ?? ""])
            }
        }
        print(table.render())
    }

    static func split(_ pair: String, option: String) throws -> (String, String) {
        let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("\(option) '\(pair)': expected name=value") }
        return (parts[0].trimmingCharacters(in: .whitespaces), parts[1])
    }

    static func parse(_ text: String, as type: ValueType, what: String) throws -> Value {
        let value: Value? =
            switch type {
            case .int64: Int64(text).map(Value.int64)
            case .double: Double(text).map(Value.double)
            case .string: .string(text)
            case .bool: Bool(text.lowercased()).map(Value.bool)
            case .timestamp: (try? Timestamp(rfc3339: text)).map(Value.timestamp)
            case .int64List, .doubleList, .stringList, .boolList, .timestampList: nil  // keys are scalars
            }
        guard let value else { throw ValidationError("\(what): '\(text)' is not a \(type)") }
        return value
    }

    static func jsonObject(_ value: Value) -> Any {
        switch value {
        case .null: NSNull()
        case .int64(let v): v
        case .double(let v): v.isFinite ? v as Any : NSNull()
        case .string(let v): v
        case .bool(let v): v
        case .timestamp(let t): t.description
        case .list(let items): items.map(jsonObject)
        }
    }
}
