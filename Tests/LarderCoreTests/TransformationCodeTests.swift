import Features
import Testing

@testable import LarderCore

@Suite struct TransformationCodeTests {
    static let text = """
        let view = FeatureView("v", entity: e, source: s, ttl: .zero) {
            Feature("ratio", from: a, b) { a, b in
                // why: guard small denominators
                a / max(b, 0.1)  /* inline */
            }
            Feature("label", from: c) { c in "}{\\"" + c }
        }
        """

    @Test func extractsTheDeclaringCallWithItsClosure() throws {
        let ratio = try #require(TransformationCode.call(in: Self.text, at: CodeLocation(fileID: "T/a.swift", line: 2, column: 5)))
        #expect(ratio.hasPrefix("Feature(\"ratio\""))
        #expect(ratio.hasSuffix("0.1)  /* inline */\n    }"))
        // Braces inside string literals do not end the closure.
        let label = try #require(TransformationCode.call(in: Self.text, at: CodeLocation(fileID: "T/a.swift", line: 6, column: 5)))
        #expect(label == #"Feature("label", from: c) { c in "}{\"" + c }"#)
        #expect(TransformationCode.call(in: Self.text, at: CodeLocation(fileID: "T/a.swift", line: 40, column: 1)) == nil)
    }

    @Test func layoutAndCommentsDoNotCountCodeDoes() {
        let a = TransformationCode.normalized("Feature(\"x\", from: a) { a in\n    // note\n    a * 2 }")
        let b = TransformationCode.normalized("Feature( \"x\" , from:a){a in a*2/* other note */}")
        let c = TransformationCode.normalized("Feature(\"x\", from: a) { a in a * 3 }")
        #expect(a == b)
        #expect(a != c)
        // Words stay apart, and string literals keep their spaces.
        #expect(TransformationCode.normalized("let  x = \"a  b\"") == "let x=\"a  b\"")
    }

    /// A changed closure body changes the feature's spec, its view's fingerprint, and the
    /// plan line says why.
    @Test func changedCodeIsAChangedDefinition() {
        let key = Column<Int64>("id")
        let amount = Column<Double>("amount")
        let entity = Entity("e", joinKeys: [key])
        let source = Source("s", columns: [key, amount])
        func view(_ file: String) -> FeatureView {
            FeatureView("v", entity: entity, source: source, ttl: .zero) {
                Feature("double", from: amount, fileID: file, line: 1, column: 1) { $0 * 2 }
            }
        }
        TransformationCode.register([
            "T/one.swift": "Feature(\"double\", from: amount) { $0 * 2 }",
            "T/same.swift": "Feature(\"double\", from: amount) {\n  $0 * 2  // the same code\n}",
            "T/two.swift": "Feature(\"double\", from: amount) { $0 * 3 }",
        ])
        let one = DefinitionSpec.featureView(view("T/one.swift").spec)
        let same = DefinitionSpec.featureView(view("T/same.swift").spec)
        let two = DefinitionSpec.featureView(view("T/two.swift").spec)
        #expect(one.fingerprint == same.fingerprint)
        #expect(one.fingerprint != two.fingerprint)
        #expect(two.changes(from: one) == ["feature changed: double (transformation code)"])
        // Unknown source text: no code hash, and no spurious change.
        let unknown = DefinitionSpec.featureView(view("T/unknown.swift").spec)
        guard case .featureView(let spec) = unknown else { return }
        #expect(spec.features[0].code == nil)
    }

    /// A feature's description, owner and tags are arguments of its declaring call, but not
    /// part of its code: adding or editing them keeps the code hash and the view's fingerprint.
    @Test func metadataArgumentsAreNotCode() {
        let key = Column<Int64>("id")
        let amount = Column<Double>("amount")
        let entity = Entity("e", joinKeys: [key])
        let source = Source("s", columns: [key, amount])
        func view(_ file: String, description: String = "", tags: [String: String] = [:], viewOwner: String = "") -> FeatureView {
            FeatureView("v", entity: entity, source: source, ttl: .zero, owner: viewOwner) {
                Feature("double", from: amount, description: description, tags: tags, fileID: file, line: 1, column: 1) { $0 * 2 }
            }
        }
        TransformationCode.register([
            "M/bare.swift": "Feature(\"double\", from: amount) { $0 * 2 }",
            "M/described.swift": #"Feature("double", from: amount, description: "twice, (in \"EUR\")", tags: ["a": "b,c"]) { $0 * 2 }"#,
            "M/changed.swift": #"Feature("double", from: amount, description: "twice") { $0 * 3 }"#,
        ])
        let bare = DefinitionSpec.featureView(view("M/bare.swift").spec)
        let described = DefinitionSpec.featureView(
            view("M/described.swift", description: #"twice, (in "EUR")"#, tags: ["a": "b,c"], viewOwner: "risk@").spec)
        let changed = DefinitionSpec.featureView(view("M/changed.swift", description: "twice").spec)
        #expect(bare.fingerprint == described.fingerprint)
        #expect(bare != described, "the metadata is kept in the spec")
        #expect(bare.fingerprint != changed.fingerprint)
        #expect(
            TransformationCode.withoutMetadataArguments(#"Feature("d",from:a,description:"x, (y",owner:"o",tags:["k":"v,w"]){$0}"#)
                == #"Feature("d",from:a){$0}"#)
        #expect(TransformationCode.withoutMetadataArguments(#"Feature("d",from:a){$0}"#) == #"Feature("d",from:a){$0}"#)
    }

    /// The build embeds the example repo's files: its computed features have code hashes.
    @Test func exampleRepositoryCarriesCodeHashes() throws {
        let specs = Features.repository.specs
        let trips = try #require(specs.first { $0.name == "driver_trips" })
        guard case .featureView(let spec) = trips else { return }
        #expect(spec.features.first { $0.name == "fare_per_km" }?.code?.count == 16)
    }
}
