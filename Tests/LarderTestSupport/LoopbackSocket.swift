import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Minimal blocking TCP helpers on 127.0.0.1, so the test support needs no Redis client.
public enum LoopbackSocket {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A port that was free a moment ago: bind port 0, read what the kernel chose, close.
    public static func freePort() throws -> Int {
        let fd = try makeSocket()
        defer { close(fd) }
        var address = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw Failure(description: "bind to 127.0.0.1:0 failed: \(errorText())") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw Failure(description: "getsockname failed: \(errorText())") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Connects to 127.0.0.1:`port`, sends `request`, and reads until `isComplete` accepts
    /// what arrived, the peer closes, or `timeout` passes. Returns nil if it cannot connect.
    public static func exchange(
        port: Int, request: String, timeout: TimeInterval = 0.5, isComplete: (String) -> Bool
    ) -> String? {
        guard let fd = try? makeSocket() else { return nil }
        defer { close(fd) }
        var limit = makeTimeval(timeout)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout.size(ofValue: limit)))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout.size(ofValue: limit)))
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let bytes = Array(request.utf8)
        #if canImport(Glibc)
            let flags = Int32(MSG_NOSIGNAL)  // a closed peer must not kill the test process
        #else
            let flags: Int32 = 0
        #endif
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, flags) }
        guard sent == bytes.count else { return nil }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received.append(contentsOf: buffer[0..<count])
            if isComplete(String(decoding: received, as: UTF8.self)) { break }
        }
        return String(decoding: received, as: UTF8.self)
    }

    private static func makeSocket() throws -> Int32 {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket() failed: \(errorText())") }
        return fd
    }

    private static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        return address
    }

    private static func makeTimeval(_ seconds: TimeInterval) -> timeval {
        let micros = Int(seconds * 1_000_000)
        return timeval(tv_sec: .init(micros / 1_000_000), tv_usec: .init(micros % 1_000_000))
    }

    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
