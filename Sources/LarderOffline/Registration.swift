import LarderCore

/// How a compiled definition stands against the registry. This is the one rule deciding
/// "the compiled definition is the registered one": their fingerprints are equal.
public enum Registration: Sendable, Equatable {
    /// The registry holds this definition, as `version`.
    case current(version: Int)
    /// The registry holds another definition under this name (`larder apply` has not run
    /// since features/ changed, or a newer build applied one).
    case differs(registeredVersion: Int)
    /// The registry holds nothing under this name.
    case unregistered

    /// The standing of `compiled` against `registered`, the registry's entry of the same name.
    public init(_ compiled: DefinitionSpec, registered: RegisteredDefinition?) {
        guard let registered else {
            self = .unregistered
            return
        }
        self =
            registered.fingerprint == compiled.fingerprint
            ? .current(version: registered.version) : .differs(registeredVersion: registered.version)
    }

    /// The registered version when the compiled definition is the registered one.
    public var version: Int? {
        if case .current(let version) = self { version } else { nil }
    }
}

extension DefinitionRegistry {
    /// The standing of every given compiled definition, in one registry read, by name.
    public func registrations(of compiled: [DefinitionSpec]) async throws -> [String: Registration] {
        let registered = Dictionary(try await definitions().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return Dictionary(
            compiled.map { ($0.name, Registration($0, registered: registered[$0.name])) }, uniquingKeysWith: { first, _ in first })
    }
}

extension Registry {
    /// The blocking form of ``DefinitionRegistry/registrations(of:)``, for the store's own
    /// reads.
    func registrations(of compiled: [DefinitionSpec]) throws -> [String: Registration] {
        let registered = Dictionary(try definitions().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return Dictionary(
            compiled.map { ($0.name, Registration($0, registered: registered[$0.name])) }, uniquingKeysWith: { first, _ in first })
    }
}

extension OfflineStore {
    /// The registered spec and version of a compiled feature view, or an error when the
    /// compiled definition is not what is registered (so `larder apply` must run first).
    public func registeredView(_ view: FeatureView) async throws -> (spec: FeatureViewSpec, version: Int) {
        try await reading { try self.registeredView(view) }
    }

    /// The blocking body of the async ``registeredView(_:)``, run on ``Blocking``'s pool.
    func registeredView(_ view: FeatureView) throws -> (spec: FeatureViewSpec, version: Int) {
        try Self.registeredView(view, registered: try registry.definition(named: view.name))
    }

    /// `view`'s registered spec and version, given what the registry holds under its name, or
    /// the refusal either store gives when it is not registered as compiled.
    package static func registeredView(
        _ view: FeatureView, registered: RegisteredDefinition?
    ) throws -> (spec: FeatureViewSpec, version: Int) {
        guard let registered, case .featureView(let spec) = registered.spec else {
            throw OfflineStoreError(Self.notRegisteredMessage(view.name))
        }
        guard case .current(let version) = Registration(.featureView(view.spec), registered: registered) else {
            throw OfflineStoreError(Self.differsMessage(view.name, registeredVersion: registered.version))
        }
        return (spec, version)
    }

    /// Refuses an on-demand view whose compiled definition is not the registered one (for
    /// the training-set join, inside its read).
    func requireRegistered(_ view: OnDemandFeatureView) throws {
        try Self.requireRegistered(view, registered: try registry.definition(named: view.name))
    }

    /// Refuses an on-demand view whose compiled definition is not `registered` (either store).
    package static func requireRegistered(_ view: OnDemandFeatureView, registered: RegisteredDefinition?) throws {
        guard case .current = Registration(.onDemandView(view.spec), registered: registered) else {
            throw OfflineStoreError("on-demand view \(view.name) in features/ is not what is registered; run `larder apply` first")
        }
    }

    /// ``registeredView(_:)``'s refusal of a view the registry does not hold.
    public static func notRegisteredMessage(_ view: String) -> String {
        "feature view \(view) is not registered; run `larder apply`"
    }

    /// ``registeredView(_:)``'s refusal of a view the registry holds another definition of.
    public static func differsMessage(_ view: String, registeredVersion: Int) -> String {
        "feature view \(view) in features/ differs from the registered v\(registeredVersion); run `larder apply` first"
    }
}
