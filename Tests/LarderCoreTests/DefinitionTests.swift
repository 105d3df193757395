import Features
import Testing

@testable import LarderCore

@Suite struct DefinitionTests {
    @Test func exampleRepositoryIsValid() throws {
        try Features.repository.validate()
        let specs = Features.repository.specs
        #expect(
            specs.map(\.name) == [
                "driver", "driver_stats", "trips", "driver_hourly_stats", "driver_trips", "transformed_conv_rate", "driver_ranking",
            ])
        let service = try Features.repository.resolve(serviceNamed: "driver_ranking")
        #expect(
            service.map(\.reference) == [
                "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips",
                "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2", "driver_trips:fare_per_km",
                "driver_trips:trips_1h", "driver_trips:fare_sum_24h", "driver_trips:fare_mean_7d", "driver_trips:fare_per_km_max_24h",
            ])
        // The default hops (docs/SEMANTICS.md): 5 minutes under 12 hours, 1 hour under 12 days.
        #expect(driverTrips.aggregations.map(\.hop) == [5, 60, 60, 60].map { $0 * 60_000_000 })
        #expect(service.map(\.type).suffix(4) == [.int64, .double, .double, .double])
    }

    @Test func rowTransformationEvaluatesTheSwiftClosure() throws {
        let layout = RowLayout(keys: ["driver_id", "fare", "distance_km"])
        let feature = try #require(driverTrips.features.first)
        let evaluate = try #require(feature.transformation.evaluator(for: layout))
        #expect(evaluate([.int64(1), .double(12), .double(3)]) == .double(4))
        // max(distance, 0.1) guards short trips.
        #expect(evaluate([.int64(1), .double(1), .double(0)]) == .double(10))
        // A null input the closure takes as non-optional makes the output null.
        #expect(evaluate([.int64(1), .null, .double(3)]) == .null)
        #expect(feature.transformation.evaluator(for: RowLayout(keys: ["fare"])) == nil)
    }

    @Test func optionalInputsSeeNulls() throws {
        let note = Column<String?>("note")
        let feature = Feature("has_note", from: note) { $0 != nil }
        let evaluate = try #require(feature.transformation.evaluator(for: RowLayout(keys: ["note"])))
        #expect(evaluate([.null]) == .bool(false))
        #expect(evaluate([.string("x")]) == .bool(true))
        #expect(feature.type == .bool)
    }

    @Test func onDemandFeaturesReadFeaturesAndRequestFields() throws {
        let view = TransformedConvRate.view
        #expect(view.requestFields.map(\.key) == ["val_to_add", "val_to_add_2"])
        #expect(view.featureInputs.map(\.key) == ["driver_hourly_stats:conv_rate"])
        let layout = RowLayout(keys: ["driver_hourly_stats:conv_rate", "val_to_add", "val_to_add_2"])
        let plus1 = try #require(view.features[0].transformation.evaluator(for: layout))
        let plus2 = try #require(view.features[1].transformation.evaluator(for: layout))
        #expect(plus1([.double(0.5), .int64(1), .int64(2)]) == .double(1.5))
        #expect(plus2([.double(0.5), .int64(1), .int64(2)]) == .double(2.5))
        #expect(plus1([.null, .int64(1), .int64(2)]) == .null)
    }

    // MARK: Validation

    static let key = Column<Int64>("driver_id")
    static let amount = Column<Double>("amount")
    static let entity = Entity("driver", joinKeys: [key])
    static let source = Source("payments", columns: [key, amount])

    private func problems(_ repository: FeatureRepository) -> [String] {
        do {
            try repository.validate()
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    private func expectProblem(_ repository: FeatureRepository, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let found = problems(repository)
        #expect(
            found.contains { $0.contains(fragment) }, "expected a problem containing \"\(fragment)\", got \(found)",
            sourceLocation: sourceLocation)
    }

    @Test func duplicateNames() {
        let view = FeatureView("payments", entity: Self.entity, source: Self.source, ttl: .hours(1)) { Feature(Self.amount) }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; view
            }, "feature view payments: the name is already used by source payments")
        let twice = FeatureView("v", entity: Self.entity, source: Self.source, ttl: .hours(1)) {
            Feature(Self.amount)
            Feature(Self.amount)
        }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; twice
            }, "feature view v: duplicate feature 'amount'")
    }

    @Test func unsafeIdentifiers() {
        for bad in ["Payments", "pay-ments", "1payments", "pay__ments", "_payments", "pay ments", String(repeating: "a", count: 64)] {
            let source = Source(bad, columns: [Self.key, Self.amount])
            expectProblem(
                FeatureRepository {
                    Self.entity; source
                }, "source \(bad): name '\(bad)' is not a safe name")
        }
        let badColumn = Source("s", columns: [Self.key, Column<Double>("drop table")])
        expectProblem(
            FeatureRepository {
                Self.entity; badColumn
            }, "column 'drop table' is not a safe name")
    }

    @Test func viewReadsAColumnItsSourceLacks() {
        let tip = Column<Double>("tip")
        let view = FeatureView("v", entity: Self.entity, source: Self.source, ttl: .hours(1)) {
            Feature("tip_ratio", from: tip, Self.amount) { $0 / $1 }
        }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; view
            }, "feature 'tip_ratio' reads column 'tip', which source payments lacks")
    }

    @Test func typeMismatches() {
        let amountAsInt = Column<Int64>("amount")
        let amountOptional = Column<Double?>("amount")
        let v1 = FeatureView("v1", entity: Self.entity, source: Self.source, ttl: .hours(1)) { Feature(amountAsInt) }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; v1
            }, "reads column 'amount' as int64, but source payments declares it double")
        let v2 = FeatureView("v2", entity: Self.entity, source: Self.source, ttl: .hours(1)) { Feature(amountOptional) }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; v2
            }, "reads column 'amount' as double?, but source payments declares it double")

        let view = FeatureView("v", entity: Self.entity, source: Self.source, ttl: .hours(1)) { Feature(Self.amount) }
        let wrongType = view.feature("amount", as: Int64.self)
        let odfv = OnDemandFeatureView("o") { OnDemandFeature("x", from: wrongType) { $0 + 1 } }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; view; odfv
            }, "reads 'v:amount' as int64, but it is double")
    }

    @Test func entityKeyMissingFromSource() {
        let other = Source("other", columns: [Self.amount])
        let view = FeatureView("v", entity: Self.entity, source: other, ttl: .hours(1)) { Feature(Self.amount) }
        expectProblem(
            FeatureRepository {
                Self.entity; other; view
            }, "entity key 'driver_id' of entity driver is missing from source other")
        let stringKey = Source("s", columns: [Column<String>("driver_id"), Self.amount])
        let v2 = FeatureView("v2", entity: Self.entity, source: stringKey, ttl: .hours(1)) { Feature(Self.amount) }
        expectProblem(
            FeatureRepository {
                Self.entity; stringKey; v2
            }, "entity key 'driver_id' is int64 in entity driver but string in source s")
    }

    @Test func serviceNamingAnUnknownFeature() {
        let view = FeatureView("v", entity: Self.entity, source: Self.source, ttl: .hours(1)) { Feature(Self.amount) }
        let service = FeatureService("svc") { view.select("amount", "amnt") }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; view; service
            }, "names feature 'v:amnt', which view v does not have")
        let unknownView = FeatureService("svc2") { FeatureSelection(view: "nope", features: nil) }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; view; unknownView
            }, "names view 'nope'")
    }

    @Test func missingDependenciesAndEmptyDefinitions() {
        let view = FeatureView("v", entity: Self.entity, source: Self.source, ttl: .hours(1)) { Feature(Self.amount) }
        expectProblem(FeatureRepository { view }, "uses entity 'driver', which is not in the repository")
        expectProblem(
            FeatureRepository {
                Self.entity; view
            }, "uses source 'payments', which is not in the repository")
        let empty = FeatureView("e", entity: Self.entity, source: Self.source, ttl: .hours(1)) { [] }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; empty
            }, "feature view e: has no features")
        let negative = FeatureView("n", entity: Self.entity, source: Self.source, ttl: .seconds(-1)) { Feature(Self.amount) }
        expectProblem(
            FeatureRepository {
                Self.entity; Self.source; negative
            }, "ttl is negative")
    }

    @Test func allProblemsAreReportedTogether() {
        let bad = Source("Bad", columns: [])
        let found = problems(
            FeatureRepository {
                Self.entity; bad; Self.source; Self.source
            })
        #expect(found.count >= 3)
    }

    @Test func specChangesNameFeaturesAndTTL() {
        let v1 = FeatureView("v", entity: Self.entity, source: Self.source, ttl: .hours(2)) { Feature(Self.amount) }
        let v2 = FeatureView("v", entity: Self.entity, source: Self.source, ttl: .hours(3)) {
            Feature(Self.amount)
            Feature("amount_x2", from: Self.amount) { $0 * 2 }
        }
        let changes = DefinitionSpec.featureView(v2.spec).changes(from: .featureView(v1.spec))
        #expect(changes == ["ttl: 2h -> 3h", "feature added: amount_x2"])
        #expect(DefinitionSpec.featureView(v1.spec).changes(from: .featureView(v1.spec)).isEmpty)
        #expect(DefinitionSpec.featureView(v1.spec).fingerprint != DefinitionSpec.featureView(v2.spec).fingerprint)
        #expect(DefinitionSpec.featureView(v1.spec).fingerprint == DefinitionSpec.featureView(v1.spec).fingerprint)
    }

    @Test func featureReferencesResolve() throws {
        let refs = try Features.repository.resolve(references: ["driver_hourly_stats:conv_rate", "transformed_conv_rate"])
        #expect(
            refs.map(\.reference) == [
                "driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2",
            ])
        #expect(throws: FeatureLookupError.self) { try Features.repository.resolve(references: ["driver_hourly_stats:nope"]) }
        #expect(throws: FeatureLookupError.self) { try Features.repository.resolve(references: ["nope:x"]) }
        #expect(throws: FeatureLookupError.self) { try Features.repository.resolve(references: ["a:b:c"]) }
        #expect(throws: FeatureLookupError.self) { try Features.repository.resolve(serviceNamed: "nope") }
    }

    @Test func allFeaturesAreEveryViewsInDeclarationOrder() {
        #expect(
            Features.repository.allFeatures.map(\.reference) == [
                "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips",
                "driver_trips:fare_per_km", "driver_trips:trips_1h", "driver_trips:fare_sum_24h", "driver_trips:fare_mean_7d",
                "driver_trips:fare_per_km_max_24h", "transformed_conv_rate:conv_rate_plus_val1",
                "transformed_conv_rate:conv_rate_plus_val2",
            ])
        #expect(Features.repository.allFeatures.filter(\.isOnDemand).count == 2)
    }

    /// Views of overlapping but different join keys cannot be looked up by one row; same or
    /// disjoint keys can.
    @Test func lookupGroupsSeparateOverlappingJoinKeys() throws {
        let city = Column<String>("city")
        let customerID = Column<Int64>("customer_id")
        let driverCity = Entity("driver_city", joinKeys: [Self.key, city])
        let customer = Entity("customer", joinKeys: [customerID])
        let payments = Source("payments", columns: [Self.key, city, customerID, Self.amount])
        let byDriver = FeatureView("by_driver", entity: Self.entity, source: payments, ttl: .hours(1)) { Feature(Self.amount) }
        let byDriverCity = FeatureView("by_driver_city", entity: driverCity, source: payments, ttl: .hours(1)) { Feature(Self.amount) }
        let byCustomer = FeatureView("by_customer", entity: customer, source: payments, ttl: .hours(1)) { Feature(Self.amount) }
        let sum = OnDemandFeatureView("sum") {
            OnDemandFeature(
                "city_plus_customer", from: byDriverCity.feature("amount", as: Double.self), byCustomer.feature("amount", as: Double.self)
            ) {
                $0 + $1
            }
        }
        let repository = FeatureRepository {
            Self.entity; driverCity; customer; payments; byDriver; byDriverCity; byCustomer; sum
        }
        try repository.validate()
        let groups = try FeaturePlan.lookupGroups(repository.allFeatures, repository: repository)
        #expect(
            groups.map { $0.map(\.reference) } == [
                ["by_driver:amount", "by_customer:amount"], ["by_driver_city:amount", "sum:city_plus_customer"],
            ])
        // One entity: one group, in order.
        #expect(try FeaturePlan.lookupGroups(Features.repository.allFeatures, repository: Features.repository).count == 1)
    }
}
