import Foundation
import Testing

/// The `serve:` keys that bound what a client can cost, as `larder.yaml` gives them.
@Suite struct ServeLimitsConfigurationTests {
    let project: LarderProcess

    init() throws { project = try LarderProcess() }

    @Test func badLimitsAreRefusedWhenTheConfigurationIsRead() throws {
        let cases = [
            (
                "header_timeout_seconds: 0",
                "'serve.header_timeout_seconds' must be a number of seconds above 0 (at most 86400), e.g. 10; got 0"
            ),
            ("body_timeout_seconds: soon", "'serve.body_timeout_seconds' must be a number of seconds above 0"),
            ("idle_timeout_seconds: true", "'serve.idle_timeout_seconds' must be a number of seconds above 0"),
            ("max_connections: 0", "'serve.max_connections' must be an integer of at least 1 (open connections); got 0"),
            ("max_entities: 1.5", "'serve.max_entities' must be an integer of at least 1 (entities per lookup); got 1.5"),
            ("max_values: -3", "'serve.max_values' must be an integer of at least 1 (entities × features per lookup); got -3"),
            ("max_entity: 5", "unknown key 'serve.max_entity'"),
        ]
        for (line, message) in cases {
            try project.write("larder.yaml", "project: x\nserve:\n  \(line)\n")
            let result = try project.run("list")
            #expect(result.status != 0, "\(line)")
            #expect(result.stderr.contains(message), "\(line): \(result.stderr)")
        }
        try project.write(
            "larder.yaml",
            """
            project: x
            serve:
              header_timeout_seconds: 0.5
              body_timeout_seconds: 30
              idle_timeout_seconds: 60
              max_connections: 100
              max_entities: 10
              max_values: 100

            """)
        let good = try project.run("list")
        #expect(good.status == 0, "\(good.stderr)")
    }

    @Test func serveRefusesAConnectionCapOverTheOpenFileLimit() throws {
        try project.write("larder.yaml", "project: x\nserve:\n  max_connections: 2000000000\n")
        let result = try project.run("serve", "--port", "0")
        #expect(result.status != 0)
        #expect(
            result.stderr.contains("serve.max_connections is 2000000000, but this process may open only"), "\(result.stderr)")
    }
}
