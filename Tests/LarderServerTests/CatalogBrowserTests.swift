import Features
import Foundation
import Hummingbird
import LarderCore
import LarderEngine
import LarderOffline
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
        // While it waits, the browser and its helpers are visible (so the check below can see them).
        var seen: [String] = []
        while seen.count < 2 && Date().timeIntervalSince(started) < 3.5 {
            try await Task.sleep(for: .milliseconds(100))
            seen = Self.browserProcesses()
        }
        #expect(seen.count >= 2, "\(seen)")
        let error = await #expect(throws: HeadlessChromium.Failure.self) { _ = try await load.value }
        if case .timedOut = error {} else { Issue.record("expected a time-out, got \(String(describing: error))") }
        #expect(Date().timeIntervalSince(started) < 15)
        // Killed processes take a moment to disappear from /proc once reaped.
        let deadline = Date().addingTimeInterval(3)
        while !Self.browserProcesses().isEmpty && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(Self.browserProcesses().isEmpty, "left running: \(Self.browserProcesses())")
    }

    // MARK: - The catalog's pages

    /// A service over the example repository with data: 40 drivers' hourly statistics over
    /// six hours (conversion rates spread over [0, 1)), ingested from a file, and trips pushed;
    /// both views materialized up to the clock, which records their statistics.
    static func catalogService(apiToken: String? = nil) async throws -> ServerHarness {
        let server = try await ServerHarness(apiToken: apiToken)
        var lines = [IngestFixtures.header]
        for hour in 1...6 {
            for driver in 0..<40 {
                let rate = Double((driver * 37 + hour * 11) % 100) / 100
                lines.append("\(1001 + driver),\(server.at(minutes: Int64(-60 * hour))),,\(rate),0.9,\(driver % 7 + hour)")
            }
        }
        let stats = try server.directory.write("driver_stats.csv", lines.joined(separator: "\n") + "\n")
        _ = try await server.offline.ingest(source: "driver_stats", file: stats)
        let trips = (1...12).map { k in
            #"{"driver_id": \#(1001 + k % 4), "event_timestamp": "\#(server.at(minutes: Int64(-5 * k)))", "fare": \#(Double(k) * 2.5), "distance_km": \#(Double(k % 5) + 1)}"#
        }
        let pushed = try await server.post("/v1/push", #"{"source": "trips", "rows": [\#(trips.joined(separator: ","))]}"#, token: apiToken)
        #expect(pushed.status == 200, "\(pushed.text)")
        for view in [Features.driverHourlyStats, Features.driverTrips] {
            let run = try await server.offline.materialize(view, mode: .range(start: nil, end: server.now))
            _ = try await MaterializedPush.push(view, summary: run, store: server.offline, online: server.online, project: "test")
        }
        return server
    }

    /// Each kind of page, loaded by the browser from a running service: what it rendered, and a
    /// screenshot of each.
    @Test func theCatalogPagesRenderInTheBrowser() async throws {
        let chromium = try HeadlessChromium.find()
        let server = try await Self.catalogService()
        defer { Task { await server.stop() } }
        let folder = Self.screenshots + "/catalog"
        print("screenshots of the catalog's pages in \(folder)")
        // Every page first, two browsers at a time (each load is mostly the browser starting).
        let paths = [
            "home": "/ui", "search": "/ui/search?q=rate", "feature": "/ui/features/driver_hourly_stats/conv_rate",
            "view": "/ui/views/driver_hourly_stats", "service": "/ui/services/driver_ranking", "source": "/ui/sources/driver_stats",
            "entity": "/ui/entities/driver",
        ]
        let loaded = try await withThrowingTaskGroup(of: (String, RenderedDOM).self) { group in
            var pending = paths.sorted { $0.key < $1.key }[...]
            var out: [String: RenderedDOM] = [:]
            func next() {
                guard let (name, path) = pending.popFirst() else { return }
                group.addTask {
                    (name, try await chromium.load("http://127.0.0.1:\(server.port)\(path)", screenshot: "\(folder)/\(name).png").document)
                }
            }
            next()
            next()
            for try await (name, dom) in group {
                out[name] = dom
                next()
            }
            return out
        }
        func load(_ path: String, _ name: String) throws -> RenderedDOM {
            try #require(loaded[name], "\(path) was not loaded")
        }
        func heading(_ dom: RenderedDOM) -> String? { dom.first("h1")?.text }

        // Home: the counts, and the views, sources, entity and service by name, as links.
        let home = try load("/ui", "home")
        #expect(home.first("title")?.text.contains("Catalog") == true)
        for link in [
            "/ui/views/driver_hourly_stats", "/ui/views/driver_trips", "/ui/sources/driver_stats", "/ui/sources/trips",
            "/ui/entities/driver", "/ui/services/driver_ranking",
        ] {
            #expect(home.links.contains(link), "home links to \(link)")
        }
        // The count of features: a number and its label.
        let featureCount = home.all { $0.elements.count == 2 && $0.elements[1].text == "features" }.map { $0.elements[0].text }
        #expect(featureCount == ["10"], "\(home.text.prefix(400))")
        #expect(home.all("script").isEmpty)

        // Search: the features whose name or description has the text, each linking to its page.
        let search = try load("/ui/search?q=rate", "search")
        let found = Set(search.links.filter { $0.hasPrefix("/ui/features/") })
        #expect(
            found == [
                "/ui/features/driver_hourly_stats/conv_rate", "/ui/features/driver_hourly_stats/acc_rate",
                "/ui/features/transformed_conv_rate/conv_rate_plus_val1", "/ui/features/transformed_conv_rate/conv_rate_plus_val2",
            ], "\(found.sorted())")
        let names = search.all("a") { ($0["href"] ?? "").hasPrefix("/ui/features/") }.map(\.text)
        #expect(Set(names) == ["conv_rate", "acc_rate", "conv_rate_plus_val1", "conv_rate_plus_val2"], "\(names)")
        #expect(search.first("input") { $0["name"] == "q" }?["value"] == "rate")

        // A feature: its name, description, and the histogram of its values after the last
        // run, one bar per bin of the recorded statistics.
        let feature = try load("/ui/features/driver_hourly_stats/conv_rate", "feature")
        #expect(heading(feature) == "conv_rate")
        #expect(
            feature.text.contains("Share of the driver’s offers that became trips, last hour")
                || feature.text.contains("Share of the driver's offers that became trips, last hour"))
        let histogram = try #require(
            feature.first("svg") { ($0["aria-label"] ?? "").hasPrefix("Histogram of conv_rate") },
            "no histogram among \(feature.all("svg").map { $0["aria-label"] ?? "?" })")
        let bars = histogram.all("rect") { $0.classes.contains("bar") }
        #expect(bars.count >= 5, "\(bars.count) bars")
        #expect(bars.allSatisfy { Double($0["height"] ?? "") != nil && Double($0["width"] ?? "")! > 0 })
        #expect(bars.contains { Double($0["height"] ?? "0")! > 0 })
        // Each bar's tooltip says its bin and count; the counts add up to the feature table's
        // non-null values of the last run.
        let counts = bars.compactMap {
            $0.first("title")?.text.split(separator: ":").last.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        }
        #expect(counts.count == bars.count && counts.reduce(0, +) == 240, "\(counts)")
        // Heights are proportional to the counts.
        let scales = zip(bars, counts).filter { $1 > 0 }.map { Double($0["height"]!)! / $1 }
        #expect(scales.allSatisfy { abs($0 - scales[0]) <= 0.01 * scales[0] }, "height per count: \(scales)")

        // A view: its lineage, drawn as a graph of linked boxes with arrows: the source, the
        // view (marked as the current one), the on-demand view that reads it, the service.
        let view = try load("/ui/views/driver_hourly_stats", "view")
        #expect(heading(view) == "driver_hourly_stats")
        let lineage = try #require(view.first("svg") { $0.classes.contains("lineage") })
        let nodes = lineage.all("a").filter { $0.first("g") { $0.classes.contains("node") } != nil }
        #expect(
            Set(nodes.compactMap { $0["href"] }) == [
                "/ui/sources/driver_stats", "/ui/views/driver_hourly_stats", "/ui/views/transformed_conv_rate",
                "/ui/services/driver_ranking",
            ])
        for node in nodes {
            let name = node["href"]!.split(separator: "/").last.map(String.init)!
            #expect(node.text.contains(name), "node \(node["href"]!) reads \(node.text)")
        }
        #expect(lineage.all("g") { $0.classes.contains("current") }.map(\.text).joined().contains("driver_hourly_stats"))
        let edges = lineage.all("path") { $0.classes.contains("edge") }
        #expect(edges.count == 4)
        // Every arrow can be seen: none runs under a box other than its two ends' (the view →
        // service edge, which skips the on-demand view's column, runs in a lane under the boxes).
        #expect(Self.hiddenEdges(edges, boxes: lineage.all("rect")).isEmpty, "\(Self.hiddenEdges(edges, boxes: lineage.all("rect")))")

        // A service: its features and a ready curl; a source: its schema; an entity: its key.
        let service = try load("/ui/services/driver_ranking", "service")
        #expect(heading(service) == "driver_ranking")
        #expect(service.first("code") { $0.text.contains("curl") }?.text.contains("http://127.0.0.1:\(server.port)/v1/features") == true)
        for name in ["conv_rate", "conv_rate_plus_val1", "fare_per_km", "trips_1h"] {
            #expect(service.text.contains(name), "the service lists \(name)")
        }
        let source = try load("/ui/sources/driver_stats", "source")
        #expect(heading(source) == "driver_stats")
        for column in ["driver_id", "event_timestamp", "conv_rate", "acc_rate", "avg_daily_trips"] {
            #expect(source.text.contains(column), "the source shows \(column)")
        }
        #expect(source.text.contains("driver_stats.csv"), "the ingest of the file is listed")
        let entity = try load("/ui/entities/driver", "entity")
        #expect(heading(entity) == "driver")
        #expect(entity.text.contains("driver_id"))
        #expect(entity.links.contains("/ui/views/driver_hourly_stats"))
    }

    /// The edges (SVG paths of `M`, `C` and `L` commands) that pass under a box (`rect`) other than
    /// the two they join, each as "edge d: under box at x,y".
    static func hiddenEdges(_ edges: [RenderedDOM.Element], boxes: [RenderedDOM.Element]) -> [String] {
        let rects = boxes.compactMap { box -> (x: Double, y: Double, w: Double, h: Double)? in
            guard let x = box["x"].flatMap(Double.init), let y = box["y"].flatMap(Double.init), let w = box["width"].flatMap(Double.init),
                let h = box["height"].flatMap(Double.init)
            else { return nil }
            return (x, y, w, h)
        }
        func inside(_ p: (Double, Double), _ r: (x: Double, y: Double, w: Double, h: Double), margin: Double) -> Bool {
            p.0 > r.x + margin && p.0 < r.x + r.w - margin && p.1 > r.y + margin && p.1 < r.y + r.h - margin
        }
        var hidden: [String] = []
        for edge in edges {
            // The path: `M x y`, then cubic curves `C c1, c2, p` and lines `L p`, sampled.
            let tokens = (edge["d"] ?? "").split(whereSeparator: { " ,".contains($0) }).map(String.init)
            var samples: [(Double, Double)] = []
            var (start, end): ((Double, Double)?, (Double, Double)?) = (nil, nil)
            var i = 0
            var current = (0.0, 0.0)
            func point(_ at: Int) -> (Double, Double)? {
                guard at + 1 < tokens.count, let x = Double(tokens[at]), let y = Double(tokens[at + 1]) else { return nil }
                return (x, y)
            }
            var malformed = false
            while i < tokens.count && !malformed {
                switch tokens[i] {
                case "M":
                    guard let p = point(i + 1) else { malformed = true; break }
                    (current, start) = (p, p)
                    i += 3
                case "L":
                    guard let p = point(i + 1) else { malformed = true; break }
                    samples += (1..<50).map { t in
                        let t = Double(t) / 50
                        return (current.0 + (p.0 - current.0) * t, current.1 + (p.1 - current.1) * t)
                    }
                    current = p
                    i += 3
                case "C":
                    guard let c1 = point(i + 1), let c2 = point(i + 3), let p = point(i + 5) else { malformed = true; break }
                    let from = current
                    samples += (1..<50).map { t in
                        let t = Double(t) / 50
                        let u = 1 - t
                        let a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t, d = t * t * t
                        return (
                            a * from.0 + b * c1.0 + c * c2.0 + d * p.0, a * from.1 + b * c1.1 + c * c2.1 + d * p.1
                        )
                    }
                    current = p
                    i += 7
                default:
                    malformed = true
                }
            }
            end = current
            guard !malformed, let start, let end else {
                hidden.append("edge \(edge["d"] ?? ""): not a path of curves and lines")
                continue
            }
            // The boxes it joins: the one its start leaves and the one its end reaches.
            let ends = rects.filter { r in
                inside((start.0 - 2, start.1), r, margin: -1) || inside((end.0 + 4, end.1), r, margin: -1)
            }
            for r in rects where !ends.contains(where: { $0 == r }) {
                if samples.contains(where: { inside($0, r, margin: 1) }) {
                    hidden.append("edge \(edge["d"]!): under the box at \(r.x),\(r.y)")
                }
            }
        }
        return hidden
    }

    /// With a token: without the session cookie the browser lands on the login form; a form
    /// posting the token (from a page on the same site, as the login form does) sets the cookie
    /// and the browser follows the redirect into the catalog with it; a wrong token does not.
    @Test func theLoginFlowInTheBrowser() async throws {
        let chromium = try HeadlessChromium.find()
        let token = "catalog-browser-token"
        let server = try await Self.catalogService(apiToken: token)
        defer { Task { await server.stop() } }
        let base = "http://127.0.0.1:\(server.port)"
        let folder = Self.screenshots + "/catalog"

        let anonymous = try await chromium.load("\(base)/ui/views/driver_hourly_stats", screenshot: "\(folder)/login.png").document
        let form = try #require(anonymous.first("form") { $0["action"] == "/ui/login" }, "\(anonymous.text.prefix(300))")
        #expect(form["method"] == "post")
        #expect(form.first("input") { $0["name"] == "token" }?["type"] == "password")
        #expect(form.first("input") { $0["name"] == "next" }?["value"] == "/ui/views/driver_hourly_stats")
        #expect(anonymous.first("svg") == nil, "nothing of the catalog without the token")

        // The login form's fields, posted by a page of this test on another port of 127.0.0.1:
        // the same site, so the SameSite=Strict cookie is set and then sent.
        func signIn(_ value: String) -> String {
            """
            <!DOCTYPE html><html><body><form id="f" method="post" action="\(base)/ui/login">
            <input name="token" value="\(value)"><input name="next" value="/ui/views/driver_hourly_stats"></form>
            <script>document.getElementById("f").submit()</script></body></html>
            """
        }
        let pages = try await FixturePages.start(["/sign-in": signIn(token), "/wrong": signIn("not-the-token")])
        defer { Task { await pages.stop() } }
        let signedIn = try await chromium.load(
            "http://127.0.0.1:\(pages.port)/sign-in", screenshot: "\(folder)/signed-in.png", virtualTimeBudget: 5_000
        ).document
        #expect(signedIn.first("h1")?.text == "driver_hourly_stats", "\(signedIn.text.prefix(300))")
        #expect(signedIn.first("svg") { $0.classes.contains("lineage") } != nil)
        #expect(signedIn.first("form") { $0["action"] == "/ui/logout" } != nil)

        let refused = try await chromium.load("http://127.0.0.1:\(pages.port)/wrong", virtualTimeBudget: 5_000).document
        #expect(refused.first("form") { $0["action"] == "/ui/login" } != nil)
        #expect(
            refused.first("p") { $0.classes.contains("error") }?.text.contains("not a token this service accepts") == true,
            "\(refused.text.prefix(300))")
        #expect(refused.first("svg") == nil)
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
