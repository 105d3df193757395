import Foundation
import LarderTestSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// larder-test-helper redis-left-running exit|kill: a test process that starts a RedisServer
// and never stops it. It prints the server's pid, waits for a line on standard input, then
// exits normally (the server held in a global, which Swift never releases) or SIGKILLs
// itself. TestSupportTests checks that the server is gone afterwards either way.
//
// larder-test-helper postgres-left-running exit|kill: the same with PostgresServer.shared()
// (held in a static, never released). It prints the postmaster's pid and the server's log
// path (whose directory should go with it at a normal exit). PostgresServerTests checks.
//
// larder-test-helper redis-cluster-left-running exit|kill: the same with a RedisCluster; it
// prints its six nodes' pids. RedisClusterTests checks.

let arguments = CommandLine.arguments
let modes = ["redis-left-running", "postgres-left-running", "redis-cluster-left-running"]
guard arguments.count == 3, modes.contains(arguments[1]), ["exit", "kill"].contains(arguments[2]) else {
    FileHandle.standardError.write(
        Data("usage: larder-test-helper redis-left-running|postgres-left-running|redis-cluster-left-running exit|kill\n".utf8))
    exit(2)
}
// Globals, never released (a local in the `if` would be, and its deinit would stop the server).
var redisServer: RedisServer?
var postgresServer: PostgresServer?
var redisCluster: RedisCluster?
if arguments[1] == "redis-left-running" {
    let server = try RedisServer()
    redisServer = server
    FileHandle.standardOutput.write(Data("\(server.processID ?? -1)\n".utf8))
} else if arguments[1] == "redis-cluster-left-running" {
    let cluster = try RedisCluster()
    redisCluster = cluster
    FileHandle.standardOutput.write(Data((cluster.nodes.map { "\($0.processID ?? -1)" }.joined(separator: " ") + "\n").utf8))
} else {
    let server = try PostgresServer.shared()
    postgresServer = server
    FileHandle.standardOutput.write(Data("\(server.processID ?? -1) \(server.logPath)\n".utf8))
}
_ = readLine()
if arguments[2] == "kill" {
    kill(getpid(), SIGKILL)
}
exit(0)
