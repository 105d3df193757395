/// One input of a transformation: a source column (key: the column name), a feature of a
/// view (key: `view:feature`) or a request field (key: the field name).
public struct InputSpec: Sendable, Hashable, Codable {
    public var key: String
    public var type: ValueType
    public var nullable: Bool

    public init(key: String, type: ValueType, nullable: Bool) {
        self.key = key
        self.type = type
        self.nullable = nullable
    }
}

/// Something a transformation can read, with the Swift type it is read as.
public protocol TransformationInput: Sendable {
    associatedtype Value: ColumnValue
    var input: InputSpec { get }
}

/// Where each input key sits in the value arrays an evaluator is given.
/// Built once per source (or per request shape), not per row.
public struct RowLayout: Sendable {
    public let keys: [String]
    let positions: [String: Int]

    public init(keys: [String]) {
        self.keys = keys
        var positions: [String: Int] = [:]
        for (i, key) in keys.enumerated() { positions[key] = positions[key] ?? i }
        self.positions = positions
    }

    public func position(of key: String) -> Int? { positions[key] }
}

/// Computes one value from a row of values laid out as the ``RowLayout`` it was bound to.
public typealias Evaluator = @Sendable ([Value]) -> Value

/// A typed Swift closure over named inputs, with the null rule every path shares:
/// when an input that the closure takes as non-optional is null, the output is null and the
/// closure is not called. Declare an input `Optional` to handle nulls yourself.
public struct Transformation: Sendable {
    public let inputs: [InputSpec]
    public let outputType: ValueType
    /// Bound evaluators for a layout; `nil` when the layout lacks an input.
    let bind: @Sendable (RowLayout) -> Evaluator?

    public init<each I: TransformationInput, Output: ColumnValue>(
        inputs: repeat each I,
        body: @escaping @Sendable (repeat (each I).Value) -> Output
    ) {
        var specs: [InputSpec] = []
        for input in repeat each inputs { specs.append(input.input) }
        self.inputs = specs
        self.outputType = Output.valueType
        let captured = (repeat each inputs)
        self.bind = { layout in
            do {
                let slots = (repeat try Slot(each captured, in: layout))
                return { values in
                    do {
                        // Canonical, so a computed -0.0 is stored and served as +0.0 everywhere.
                        return body(repeat try (each slots).read(values)).value.canonical
                    } catch {
                        return .null
                    }
                }
            } catch {
                return nil
            }
        }
    }

    /// The identity on one input: a feature that passes a column through.
    init<I: TransformationInput>(passthrough input: I) {
        self.inputs = [input.input]
        self.outputType = I.Value.valueType
        let key = input.input.key
        self.bind = { layout in
            guard let p = layout.position(of: key) else { return nil }
            return { values in values[p] }
        }
    }

    /// An evaluator for `layout`, or `nil` when the layout lacks one of the inputs.
    public func evaluator(for layout: RowLayout) -> Evaluator? { bind(layout) }
}

private struct NullInput: Error {}
private struct MissingInput: Error {}

/// One resolved input position, read as its Swift type.
private struct Slot<T: ColumnValue>: Sendable {
    let position: Int

    init<I: TransformationInput>(_ input: I, in layout: RowLayout) throws(MissingInput) where I.Value == T {
        guard let p = layout.position(of: input.input.key) else { throw MissingInput() }
        position = p
    }

    @inline(__always)
    func read(_ values: [Value]) throws(NullInput) -> T {
        guard let v = T(value: values[position]) else { throw NullInput() }
        return v
    }
}
