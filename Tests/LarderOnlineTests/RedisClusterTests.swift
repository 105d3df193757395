import Foundation
import LarderOnline
import LarderTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The six-node cluster other tests start: ready when created, nodes that crash and come back,
/// and nothing left running afterwards.
@Suite("RedisCluster", .timeLimit(.minutes(2)))
struct RedisClusterTests {
    @Test func createdReadyAndStopped() async throws {
        try await onDedicatedThread {
            let clock = ContinuousClock()
            let start = clock.now
            let cluster = try RedisCluster()
            print("RedisCluster: six nodes up and the cluster ready in \(clock.now - start)")

            #expect(cluster.nodes.count == 6)
            #expect(Set(cluster.nodes.map(\.port)).count == 6)
            #expect(Set(cluster.nodes.map(\.port) + cluster.nodes.map(\.busPort)).count == 12)
            #expect(cluster.nodes.allSatisfy { $0.isRunning })
            let ports = cluster.nodes.prefix(3).map { "127.0.0.1:\($0.port)" }
            #expect(cluster.seedURL == "redis-cluster://" + ports.joined(separator: ","))

            // Every node is ready by itself, not only the one asked.
            for node in cluster.nodes {
                let info = try cluster.redisCLI(on: node, ["CLUSTER", "INFO"])
                #expect(info.contains("cluster_state:ok") && info.contains("cluster_slots_assigned:16384"), "\(node): \(info)")
                #expect(info.contains("cluster_size:3") && info.contains("cluster_known_nodes:6"), "\(node): \(info)")
            }
            // Three primaries (the first three nodes), each with one replica.
            let lines = try cluster.clusterNodes().split(separator: "\n")
            #expect(lines.filter { $0.contains("master") }.count == 3)
            #expect(lines.filter { $0.contains("slave") }.count == 3)
            for slot in [0, 5461, 16383] {
                #expect(cluster.nodes.prefix(3).contains { $0 === (try? cluster.primary(forSlot: slot)) })
            }

            // redis-cli follows redirections: keys on every primary.
            for index in 0..<30 { _ = try cluster.redisCLI("SET", "k\(index)", "\(index)") }
            for index in 0..<30 { #expect(try cluster.redisCLI("GET", "k\(index)") == "\(index)\n") }
            #expect(throws: RedisCluster.Failure.self) { try cluster.primary(forSlot: 16384) }

            let pids = cluster.nodes.compactMap(\.processID)
            #expect(pids.count == 6)
            cluster.stop()
            #expect(!cluster.nodes.contains { $0.isRunning })
            #expect(pids.allSatisfy { !TestSupportTests.isRunningRedis($0) })
            cluster.stop()  // idempotent
            #expect(throws: RedisCluster.Failure.self) { try cluster.redisCLI("PING") }
        }
    }

    /// A killed primary is replaced by its replica, keeping the data the replica had; the
    /// restarted node rejoins as a replica of its successor.
    @Test func killedPrimaryFailsOverAndRejoins() async throws {
        try await onDedicatedThread {
            let cluster = try RedisCluster()
            let slot = HashSlot.slot(of: "survivor")
            let victim = try cluster.primary(forSlot: slot)
            _ = try cluster.redisCLI("SET", "survivor", "kept")
            // Replicated before the primary dies.
            try cluster.waitForReplication(of: victim)

            let oldPID = try #require(victim.processID)
            victim.kill()
            #expect(!victim.isRunning && victim.processID == oldPID)
            let clock = ContinuousClock()
            let start = clock.now
            try cluster.waitForFailover(of: victim, timeout: 20)
            print("RedisCluster: failover after SIGKILL took \(clock.now - start)")

            let successor = try cluster.primary(forSlot: slot)
            #expect(successor !== victim)
            // Every node learns of the promotion by gossip: a node asked before it has may
            // still redirect to the dead one. The data must be there once they agree.
            var value = ""
            for _ in 0..<100 where value != "kept\n" {
                value = (try? cluster.redisCLI("GET", "survivor")) ?? ""
                if value != "kept\n" { usleep(100_000) }
            }
            #expect(value == "kept\n")

            try victim.restart()
            #expect(victim.isRunning && victim.processID != oldPID)
            try cluster.waitUntilReady(timeout: 20)
            let line = try #require(try cluster.clusterNodes().split(separator: "\n").first { $0.contains(":\(victim.port)@") })
            #expect(line.contains("slave"), "\(line)")
        }
    }

    /// A test process that never stops its cluster (held in a global, then killed outright):
    /// every node is gone with it, as with ``RedisServer``.
    @Test(arguments: ["exit", "kill"]) func nodesNeverOutliveTheTestProcess(ending: String) async throws {
        try await onDedicatedThread {
            let helper = Process()
            helper.executableURL = try TestSupportTests.helperBinary()
            helper.arguments = ["redis-cluster-left-running", ending]
            let input = Pipe()
            let output = Pipe()
            helper.standardInput = input
            helper.standardOutput = output
            try helper.run()
            var text = ""
            while !text.hasSuffix("\n") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            let pids = text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            defer { for pid in pids where TestSupportTests.isRunningRedis(pid) { kill(pid, SIGKILL) } }
            #expect(pids.count == 6, "the helper printed \(text)")
            #expect(pids.allSatisfy(TestSupportTests.isRunningRedis))

            input.fileHandleForWriting.write(Data("go\n".utf8))
            helper.waitUntilExit()
            #expect(helper.terminationReason == (ending == "kill" ? .uncaughtSignal : .exit))
            let deadline = Date().addingTimeInterval(ending == "kill" ? 5 : 0)
            while pids.contains(where: TestSupportTests.isRunningRedis) && Date() < deadline { usleep(10_000) }
            #expect(!pids.contains(where: TestSupportTests.isRunningRedis), "nodes \(pids) outlived their test process")
        }
    }

    @Test func missingProgramMessageTellsHowToInstall() {
        #expect(
            RedisCluster.Failure.notInstalled("redis-cli").description
                == "redis-cli not found on PATH: install it (Debian: apt-get install redis-server, which brings redis-tools) "
                + "— tests that need a Redis cluster do not skip")
    }
}
