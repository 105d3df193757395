/// A field that the caller supplies with each request (a column of the request file when
/// building a training set, the `request` object when calling the service).
public struct RequestField<T: ColumnValue>: TransformationInput {
    public typealias Value = T
    public let name: String

    public init(_ name: String) { self.name = name }

    public var input: InputSpec { InputSpec(key: name, type: T.valueType, nullable: T.isNullable) }
}

/// A feature of an ``OnDemandFeatureView``: a Swift closure over features of other views
/// and request fields, evaluated at request time online and per request row offline.
public struct OnDemandFeature: Sendable {
    public let name: String
    public let transformation: Transformation
    /// Where the closure is declared: its code is part of the fingerprint.
    public let location: CodeLocation
    /// What the feature means, who owns it, and labels for the catalog: none of it counts in
    /// the fingerprint.
    public let description: String
    public let owner: String
    public let tags: [String: String]

    /// `fileID`, `line` and `column` locate the closure's code for the fingerprint; leave
    /// them to their defaults.
    public init<each I: TransformationInput, Output: ColumnValue>(
        _ name: String,
        from inputs: repeat each I,
        description: String = "", owner: String = "", tags: [String: String] = [:],
        fileID: String = #fileID, line: Int = #line, column: Int = #column,
        transform: @escaping @Sendable (repeat (each I).Value) -> Output
    ) {
        self.name = name
        self.transformation = Transformation(inputs: repeat each inputs, body: transform)
        self.location = CodeLocation(fileID: fileID, line: line, column: column)
        self.description = description
        self.owner = owner
        self.tags = tags
    }

    public var type: ValueType { transformation.outputType }
}

/// Features computed at request time, by the same compiled code for serving and training.
///
/// ```swift
/// let valToAdd = RequestField<Int64>("val_to_add")
/// let transformedConvRate = OnDemandFeatureView("transformed_conv_rate") {
///     OnDemandFeature("conv_rate_plus_val1", from: convRate, valToAdd) { rate, add in rate + Double(add) }
/// }
/// ```
public struct OnDemandFeatureView: Sendable {
    public let name: String
    public let features: [OnDemandFeature]
    public let description: String
    public let owner: String
    public let tags: [String: String]

    public init(
        _ name: String,
        description: String = "",
        owner: String = "",
        tags: [String: String] = [:],
        @ListBuilder<OnDemandFeature> features: () -> [OnDemandFeature]
    ) {
        self.name = name
        self.features = features()
        self.description = description
        self.owner = owner
        self.tags = tags
    }

    /// Inputs that are features of views (keys `view:feature`), in first-use order.
    public var featureInputs: [InputSpec] {
        uniqueInputs.filter { $0.key.contains(":") }
    }

    /// Inputs that are request fields, in first-use order.
    public var requestFields: [InputSpec] {
        uniqueInputs.filter { !$0.key.contains(":") }
    }

    private var uniqueInputs: [InputSpec] {
        var seen = Set<String>()
        return features.flatMap(\.transformation.inputs).filter { seen.insert($0.key).inserted }
    }

    public var allFeatures: FeatureSelection { FeatureSelection(view: name, features: nil) }
    public func select(_ names: String...) -> FeatureSelection { FeatureSelection(view: name, features: names) }
}
