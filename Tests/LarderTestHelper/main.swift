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

let arguments = CommandLine.arguments
guard arguments.count == 3, arguments[1] == "redis-left-running", ["exit", "kill"].contains(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: larder-test-helper redis-left-running exit|kill\n".utf8))
    exit(2)
}
let server = try RedisServer()
FileHandle.standardOutput.write(Data("\(server.processID ?? -1)\n".utf8))
_ = readLine()
if arguments[2] == "kill" {
    kill(getpid(), SIGKILL)
}
exit(0)
