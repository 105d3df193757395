import Features
import LarderCore
import LarderEngine
import Testing

/// The access rules on their own: permissions as written in larder.yaml, what they grant,
/// and finding a token by its secret.
@Suite struct AccessPolicyTests {
    @Test func permissionsParseAsWrittenAndRefuseAnythingElse() {
        for text in ["read:driver_ranking", "push:trips", "catalog", "metrics", "*", "read:driver_*", "read:*"] {
            #expect(Permission(text)?.description == text, "\(text)")
        }
        for text in ["", "read", "read:", "write:trips", "read:*x", "read:a*b", "Catalog", "push:tr*ps*", ":trips"] {
            #expect(Permission(text) == nil, "\(text)")
        }
    }

    @Test func whatEachPermissionGrants() {
        let read = Permission.read(.exact("driver_trips"))
        #expect(Permission("read:driver_trips")!.grants(read))
        #expect(Permission("read:driver_*")!.grants(read))
        #expect(Permission("read:*")!.grants(read))
        #expect(Permission("*")!.grants(read) && Permission("*")!.grants(.metrics))
        #expect(!Permission("read:driver_ranking")!.grants(read))
        #expect(!Permission("read:driver_trips_x")!.grants(read))
        #expect(!Permission("push:driver_trips")!.grants(read), "push is not read")
        #expect(!Permission("catalog")!.grants(.metrics) && Permission("catalog")!.grants(.catalog))
        #expect(!Permission("read:*")!.grants(.catalog))
    }

    @Test func aTokenIsFoundByItsSecretOnly() {
        let policy = AccessPolicy(tokens: [
            APIToken(name: "a", sha256: APIToken.digest(of: "secret-a"), allow: [.catalog]),
            APIToken(name: "b", sha256: APIToken.digest(hex: APIToken.hex(APIToken.digest(of: "secret-b")))!, allow: [.all]),
        ])
        #expect(policy.token(presenting: "secret-a")?.name == "a")
        #expect(policy.token(presenting: "secret-b")?.name == "b")
        #expect(policy.token(presenting: "secret-") == nil)
        #expect(policy.token(presenting: "") == nil)
        #expect(!policy.isOpen && AccessPolicy.open.isOpen)
        // The digest of "abc" (FIPS 180-2), as hex and back.
        #expect(APIToken.hex(APIToken.digest(of: "abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(APIToken.digest(hex: "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD") == APIToken.digest(of: "abc"))
        #expect(APIToken.digest(hex: "ba78") == nil && APIToken.digest(hex: String(repeating: "g", count: 64)) == nil)
    }

    @Test func aLookupNeedsReadOnTheViewsOfItsFeatures() throws {
        let features = try Features.repository.resolve(references: [
            "driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1", "driver_hourly_stats:acc_rate",
        ])
        #expect(
            AccessPolicy.readPermissions(of: features).map(\.description) == ["read:driver_hourly_stats", "read:transformed_conv_rate"])
    }
}
