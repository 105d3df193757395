import Foundation
import Hummingbird
import LarderTestSupport
import Logging
import ServiceLifecycle
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Debian's `chromium`, headless, against pages served over real sockets: first the browser
/// support itself (what it returns, how it fails), then the catalog's pages.
///
/// Screenshots go to `.build/browser-screenshots/` in the package (git-ignored); the tests print
/// the folder.
@Suite(.serialized) struct CatalogBrowserTests {
    static let screenshots: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/browser-screenshots").path
    }()

    // MARK: - The support, on pages this test serves

    /// The DOM comes back as the browser rendered it (a script's changes included), parsed, with
    /// inline SVG; the screenshot is a PNG of the window's size.
    @Test func chromiumReturnsTheRenderedDOMAndAScreenshot() async throws {
        let chromium = try HeadlessChromium.find()
        let pages = try await FixturePages.start([
            "/page": """
            <!DOCTYPE html><html><head><title>Fixture &amp; co</title></head><body>
            <h1 class="title main">Served &lt;as is&gt;</h1>
            <svg class="bars" width="200" height="100" viewBox="0 0 200 100"><rect x="0" y="50" width="40" height="50"/><rect x="50" y="20" width="40" height="80"/><rect x="100" y="70" width="40" height="30"></rect></svg>
            <ul id="list"></ul>
            <script>for (const n of ["one", "two"]) { const li = document.createElement("li"); li.textContent = n; document.getElementById("list").append(li) }</script>
            <p>a<br>b <img src="data:," alt="x"> <a href="/next?a=1&amp;b=2">next</a></p>
            </body></html>
            """
        ])
        defer { Task { await pages.stop() } }
        let shot = Self.screenshots + "/support/fixture.png"
        let page = try await chromium.load("http://127.0.0.1:\(pages.port)/page", screenshot: shot)
        print("screenshots in \(Self.screenshots)")
        let dom = page.document
        #expect(dom.first("title")?.text == "Fixture & co")
        #expect(dom.first("h1")?.classes == ["title", "main"])
        #expect(dom.first("h1")?.text == "Served <as is>")
        // Elements the script added exist only in the rendered DOM, not in what was served.
        #expect(dom.first("ul")?.all("li").map(\.text) == ["one", "two"])
        let svg = try #require(dom.first("svg") { $0.classes.contains("bars") })
        #expect(svg.all("rect").count == 3)
        #expect(svg.all("rect").map { $0["height"] } == ["50", "80", "30"])
        #expect(dom.links == ["/next?a=1&b=2"])
        #expect(dom.first("p")?.text == "ab next")
        #expect(page.screenshotSize?.width == 1280 && page.screenshotSize?.height == 1600)
    }

    /// Without a browser the tests fail, naming the Debian package; they never skip.
    @Test func aMissingBrowserFailsNamingThePackage() throws {
        let empty = try TemporaryDirectory()
        let error = #expect(throws: HeadlessChromium.Failure.self) {
            _ = try HeadlessChromium.find(environment: ["PATH": empty.path])
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("apt-get install chromium") && text.contains("chromium-browser") && text.contains("do not skip"), "\(text)")
        #expect(throws: HeadlessChromium.Failure.self) {
            _ = try HeadlessChromium.find(environment: ["PATH": empty.path, "LARDER_CHROMIUM": empty.file("none")])
        }
    }

    /// A refused connection is an error, not an empty page.
    @Test func aPageThatDoesNotLoadFails() async throws {
        let chromium = try HeadlessChromium.find()
        let port = try LoopbackSocket.freePort()
        let error = await #expect(throws: HeadlessChromium.Failure.self) {
            _ = try await chromium.load("http://127.0.0.1:\(port)/")
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("ERR_CONNECTION_REFUSED"))
    }

    /// A server that never answers: the load times out, and the browser and every process it
    /// started are gone afterwards.
    @Test func aHangingLoadIsKilledWithItsHelpers() async throws {
        var chromium = try HeadlessChromium.find()
        chromium.timeout = 4
        let silent = try SilentListener()
        let started = Date()
        let load = Task { try await chromium.load("http://127.0.0.1:\(silent.port)/never") }
        // While it waits, its processes are visible (so that the check below can see them).
        try await Task.sleep(for: .seconds(2))
        #expect(Self.browserProcesses().count >= 2, "\(Self.browserProcesses())")
        let error = await #expect(throws: HeadlessChromium.Failure.self) { _ = try await load.value }
        if case .timedOut = error {} else { Issue.record("expected a time-out, got \(String(describing: error))") }
        #expect(Date().timeIntervalSince(started) < 15)
        // Killed processes take a moment to disappear from /proc once reaped.
        let deadline = Date().addingTimeInterval(3)
        while !Self.browserProcesses().isEmpty && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(Self.browserProcesses().isEmpty, "left running: \(Self.browserProcesses())")
    }

    /// Processes whose command line names one of the support's profile folders.
    static func browserProcesses() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
            let command = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return command.contains("--user-data-dir=") && command.contains("larder-chromium") ? "\(pid): \(command.prefix(120))" : nil
        }
    }
}

/// A small HTTP server of fixed pages (path to HTML) on a free loopback port.
final class FixturePages: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, Error>

    private init(port: Int, group: ServiceGroup, task: Task<Void, Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    static func start(_ pages: [String: String]) async throws -> FixturePages {
        let router = Router()
        for (path, html) in pages {
            router.get(RouterPath(path)) { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
            }
        }
        var logger = Logger(label: "fixture-pages")
        logger.logLevel = .warning
        let started = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in started.continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        var configuration = ServiceGroupConfiguration(services: [app], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)
        let task = Task { try await group.run() }
        var port = 0
        for await p in started.stream {
            port = p
            break
        }
        return FixturePages(port: port, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// A loopback socket that listens and never accepts: connections complete (the kernel's
/// backlog) and no byte ever comes back.
final class SilentListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, ok else {
            close(fd)
            throw CocoaError(.fileWriteUnknown)
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}
