import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Debian's `chromium` in headless mode, for tests that load pages from a running service and
/// check what a browser renders: the DOM after parsing and scripts (`--dump-dom`), and a
/// screenshot (`--screenshot`).
///
/// Each load is one browser process with its own temporary `--user-data-dir` (so no state
/// passes between loads), `--no-sandbox` (CI runs as root, where Chromium's sandbox refuses to
/// start), and a deadline. The browser runs in a process group of its own, and the whole group
/// (browser, zygote, renderer, GPU and network processes) is killed when the load ends, however
/// it ends: finished, timed out, or failed. If the test process itself dies, ``ChildProcess``'s
/// watchdog kills the browser, and its helpers exit with it.
///
/// Tests that need it do not skip: when no browser is installed, ``find()`` throws
/// ``Failure/notInstalled(searched:)``, naming the Debian package.
public struct HeadlessChromium: Sendable {
    /// Why a page could not be loaded.
    public enum Failure: Error, CustomStringConvertible {
        case notInstalled(searched: [String])
        case timedOut(url: String, seconds: Double, log: String)
        case exited(url: String, status: Int32, log: String)
        case loadFailed(url: String, reason: String)
        case noScreenshot(url: String, path: String, log: String)

        public var description: String {
            switch self {
            case .notInstalled(let searched):
                return "headless Chromium not found (looked for \(searched.joined(separator: ", "))): install Debian's package "
                    + "`chromium` (apt-get install chromium; scripts/install-deps.sh and .ci/run do) "
                    + "or name a binary in LARDER_CHROMIUM — browser tests do not skip"
            case .timedOut(let url, let seconds, let log):
                return "chromium did not finish loading \(url) within \(seconds) s; killed. Its log:\n\(log)"
            case .exited(let url, let status, let log):
                return "chromium loading \(url) exited with status \(status). Its log:\n\(log)"
            case .loadFailed(let url, let reason):
                return "chromium could not load \(url): \(reason)"
            case .noScreenshot(let url, let path, let log):
                return "chromium loaded \(url) but wrote no PNG screenshot to \(path). Its log:\n\(log)"
            }
        }
    }

    /// What one load gave: the serialized DOM as the browser held it at the end, parsed.
    public struct Page: Sendable {
        public let url: String
        /// `document.documentElement.outerHTML` after the load (and after scripts ran).
        public let html: String
        public let document: RenderedDOM
        /// The screenshot's path and its size in pixels, when one was asked for.
        public let screenshot: String?
        public let screenshotSize: (width: Int, height: Int)?
    }

    /// The browser binary (a path).
    public let executable: String
    /// How long one load may take, browser start and exit included.
    public var timeout: TimeInterval

    /// The names looked for on `PATH`, in order, after `LARDER_CHROMIUM`.
    public static let names = ["chromium", "chromium-browser"]

    public init(executable: String, timeout: TimeInterval = 30) {
        self.executable = executable
        self.timeout = timeout
    }

    /// The browser named by `LARDER_CHROMIUM`, else the first of ``names`` on `PATH` (/usr/bin
    /// when `PATH` is unset).
    public static func find(
        environment: [String: String] = ProcessInfo.processInfo.environment, timeout: TimeInterval = 30
    ) throws -> HeadlessChromium {
        var searched: [String] = []
        if let named = environment["LARDER_CHROMIUM"], !named.isEmpty {
            if FileManager.default.isExecutableFile(atPath: named) { return HeadlessChromium(executable: named, timeout: timeout) }
            searched.append("LARDER_CHROMIUM=\(named)")
        }
        let directories = (environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        for name in names {
            searched.append(name)
            if let path = directories.map({ "\($0)/\(name)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
                return HeadlessChromium(executable: path, timeout: timeout)
            }
        }
        throw Failure.notInstalled(searched: searched)
    }

    /// Loads `url` in a new headless browser and returns the DOM it rendered; with
    /// `screenshot`, also saves a PNG of the window (`windowSize`, in CSS pixels) to that path.
    ///
    /// - Parameter virtualTimeBudget: milliseconds of virtual time the page gets after loading
    ///   before the DOM is taken (`--virtual-time-budget`): for pages that navigate on by
    ///   themselves (a form submitted by script, a redirect), so that the DOM is the last page's.
    /// - Throws: ``Failure`` when the browser cannot run, times out, or reports that the page
    ///   did not load (connection refused, DNS, TLS: an empty DOM and a `net::ERR_` line).
    public func load(
        _ url: String, screenshot: String? = nil, windowSize: (width: Int, height: Int) = (1280, 1600),
        virtualTimeBudget: Int? = nil
    ) async throws -> Page {
        // Waiting for the browser blocks: on a thread of its own, not the cooperative pool
        // (the service under test runs in this process).
        try await onDedicatedThread {
            try loadBlocking(url, screenshot: screenshot, windowSize: windowSize, virtualTimeBudget: virtualTimeBudget)
        }
    }

    private func loadBlocking(
        _ url: String, screenshot: String?, windowSize: (width: Int, height: Int), virtualTimeBudget: Int?
    ) throws -> Page {
        let scratch = try TemporaryDirectory(prefix: "larder-chromium")
        let profile = scratch.file("profile")
        let output = scratch.file("dom.html")
        let log = scratch.file("chromium.log")
        var arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile)",
            // /dev/shm is small in containers; Debian's wrapper script means to add this, but
            // its size check fails on some machines.
            "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio",
            // No crash handler: it would run outside the browser's process group.
            "--disable-crash-reporter", "--disable-breakpad",
            "--window-size=\(windowSize.width),\(windowSize.height)", "--dump-dom",
        ]
        if let screenshot {
            try? FileManager.default.removeItem(atPath: screenshot)
            try FileManager.default.createDirectory(
                atPath: (screenshot as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            arguments.append("--screenshot=\(screenshot)")
        }
        if let virtualTimeBudget { arguments.append("--virtual-time-budget=\(virtualTimeBudget)") }
        arguments.append(url)

        // `setsid` makes the browser the leader of a new process group (and session), so that
        // its helpers can be killed with it; `sh` sends its output to files.
        let process = try ChildProcess(
            executable: "/bin/sh",
            arguments: [
                "-c", #"out=$1; err=$2; shift 2; exec setsid "$@" >"$out" 2>"$err""#, "larder-chromium", output, log, executable,
            ] + arguments)
        let group = process.pid
        defer {
            // The whole group, also after a normal exit: a helper may outlive the browser.
            kill(-group, SIGKILL)
            _ = process.waitForExit(timeout: 5)
        }
        let finished = process.waitForExit(timeout: timeout)
        func logText() -> String {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            // dbus is absent in containers; every run logs it, and it does not matter.
            return text.split(separator: "\n").filter { !$0.contains("dbus/") }.suffix(40).joined(separator: "\n")
        }
        guard finished else {
            throw Failure.timedOut(url: url, seconds: timeout, log: logText())
        }
        let status = process.status ?? -1
        guard status == 0 else { throw Failure.exited(url: url, status: status, log: logText()) }
        let html = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        let text = logText()
        if let line = text.split(separator: "\n").first(where: { $0.contains("Page load failed") || $0.contains("net::ERR_") }) {
            throw Failure.loadFailed(url: url, reason: String(line))
        }
        if html.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw Failure.loadFailed(url: url, reason: "the browser gave no DOM. Its log:\n\(text)")
        }
        var size: (width: Int, height: Int)?
        if let screenshot {
            size = Self.pngSize(atPath: screenshot)
            if size == nil { throw Failure.noScreenshot(url: url, path: screenshot, log: text) }
        }
        return Page(url: url, html: html, document: RenderedDOM(html: html), screenshot: screenshot, screenshotSize: size)
    }

    /// The width and height a PNG file declares (its IHDR chunk), or nil when the file is
    /// missing or not a PNG.
    public static func pngSize(atPath path: String) -> (width: Int, height: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let header = [UInt8](handle.readData(ofLength: 24))
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard header.count == 24, Array(header[0..<8]) == signature, Array(header[12..<16]) == Array("IHDR".utf8) else {
            return nil
        }
        func be32(_ at: Int) -> Int { header[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (be32(16), be32(20))
    }
}

/// A DOM as Chromium serializes it (`--dump-dom`), parsed into elements for tests to query.
///
/// Not a general HTML parser: it reads the HTML serialization algorithm's output, in which
/// every attribute value is double-quoted, every element but the void ones has an end tag (SVG
/// elements included), and text is escaped; it is tolerant of anything else, never failing.
public struct RenderedDOM: Sendable {
    /// A parsed element: its lower-cased tag name, attributes, and children.
    public struct Element: Sendable {
        public let name: String
        public let attributes: [String: String]
        public fileprivate(set) var children: [Node]

        /// The value of attribute `name`, if present.
        public subscript(_ name: String) -> String? { attributes[name] }

        /// The element's classes (its `class` attribute, split at white space).
        public var classes: [String] { (attributes["class"] ?? "").split(whereSeparator: \.isWhitespace).map(String.init) }

        /// The child elements, in order.
        public var elements: [Element] {
            children.compactMap {
                if case .element(let e) = $0 { return e }
                return nil
            }
        }

        /// Every descendant element, in document order.
        public var descendants: [Element] {
            var out: [Element] = []
            func walk(_ element: Element) {
                for case .element(let child) in element.children {
                    out.append(child)
                    walk(child)
                }
            }
            walk(self)
            return out
        }

        /// Descendant elements named `name` (`"*"` for all) that satisfy `predicate`.
        public func all(_ name: String = "*", where predicate: (Element) -> Bool = { _ in true }) -> [Element] {
            descendants.filter { (name == "*" || $0.name == name) && predicate($0) }
        }

        /// The first descendant element named `name` that satisfies `predicate`.
        public func first(_ name: String = "*", where predicate: (Element) -> Bool = { _ in true }) -> Element? {
            all(name, where: predicate).first
        }

        /// The text of the element and its descendants, `script` and `style` excluded, with
        /// runs of white space made one space.
        public var text: String {
            var parts: [String] = []
            func walk(_ element: Element) {
                guard element.name != "script" && element.name != "style" else { return }
                for child in element.children {
                    switch child {
                    case .text(let t): parts.append(t)
                    case .element(let e): walk(e)
                    }
                }
            }
            walk(self)
            return parts.joined().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
    }

    public enum Node: Sendable {
        case element(Element)
        case text(String)
    }

    /// The document: a root element named `#document` whose children are the parsed nodes.
    public let root: Element

    public init(html: String) {
        root = Self.parse(Array(html.utf8))
    }

    /// Elements named `name` (`"*"` for all) in the document that satisfy `predicate`.
    public func all(_ name: String = "*", where predicate: (Element) -> Bool = { _ in true }) -> [Element] {
        root.all(name, where: predicate)
    }

    public func first(_ name: String = "*", where predicate: (Element) -> Bool = { _ in true }) -> Element? {
        root.first(name, where: predicate)
    }

    /// The document's text (see ``Element/text``).
    public var text: String { root.text }

    /// The values of every `href` of an `a` element.
    public var links: [String] { all("a").compactMap { $0["href"] } }

    // MARK: - Parsing

    private static let voidElements: Set<String> = [
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param", "keygen",
        "basefont", "bgsound", "frame",
    ]
    private static let rawTextElements: Set<String> = ["script", "style", "xmp", "iframe", "noembed", "noframes", "noscript"]

    private static func parse(_ bytes: [UInt8]) -> Element {
        var stack: [Element] = [Element(name: "#document", attributes: [:], children: [])]
        var i = 0
        let n = bytes.count
        func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        func append(_ node: Node) { stack[stack.count - 1].children.append(node) }
        func close(_ name: String) {
            guard let index = stack.lastIndex(where: { $0.name == name }), index > 0 else { return }
            while stack.count > index {
                let element = stack.removeLast()
                stack[stack.count - 1].children.append(.element(element))
            }
        }
        func find(_ needle: [UInt8], from start: Int) -> Int? {
            guard needle.count <= n else { return nil }
            var j = start
            while j + needle.count <= n {
                if bytes[j] == needle[0] && Array(bytes[j..<j + needle.count]) == needle { return j }
                j += 1
            }
            return nil
        }
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0C }

        while i < n {
            guard bytes[i] == UInt8(ascii: "<") else {
                let start = i
                while i < n && bytes[i] != UInt8(ascii: "<") { i += 1 }
                append(.text(decodeEntities(string(start..<i))))
                continue
            }
            if bytes[i...].starts(with: Array("<!--".utf8)) {
                i = (find(Array("-->".utf8), from: i + 4) ?? n - 3) + 3
                continue
            }
            if i + 1 < n && (bytes[i + 1] == UInt8(ascii: "!") || bytes[i + 1] == UInt8(ascii: "?")) {
                while i < n && bytes[i] != UInt8(ascii: ">") { i += 1 }
                i += 1
                continue
            }
            if i + 1 < n && bytes[i + 1] == UInt8(ascii: "/") {
                let start = i + 2
                var j = start
                while j < n && bytes[j] != UInt8(ascii: ">") { j += 1 }
                close(string(start..<j).trimmingCharacters(in: .whitespaces).lowercased())
                i = j + 1
                continue
            }
            // A start tag: name, then attributes.
            var j = i + 1
            while j < n && !isSpace(bytes[j]) && bytes[j] != UInt8(ascii: ">") && bytes[j] != UInt8(ascii: "/") { j += 1 }
            let name = string(i + 1..<j).lowercased()
            guard !name.isEmpty else {
                append(.text("<"))
                i += 1
                continue
            }
            var attributes: [String: String] = [:]
            var selfClosing = false
            while j < n && bytes[j] != UInt8(ascii: ">") {
                if isSpace(bytes[j]) {
                    j += 1
                    continue
                }
                if bytes[j] == UInt8(ascii: "/") {
                    selfClosing = true
                    j += 1
                    continue
                }
                let nameStart = j
                while j < n && !isSpace(bytes[j]) && bytes[j] != UInt8(ascii: "=") && bytes[j] != UInt8(ascii: ">") { j += 1 }
                let attribute = string(nameStart..<j).lowercased()
                var value = ""
                if j < n && bytes[j] == UInt8(ascii: "=") {
                    j += 1
                    if j < n && (bytes[j] == UInt8(ascii: "\"") || bytes[j] == UInt8(ascii: "'")) {
                        let quote = bytes[j]
                        let valueStart = j + 1
                        j = valueStart
                        while j < n && bytes[j] != quote { j += 1 }
                        value = decodeEntities(string(valueStart..<min(j, n)))
                        j += 1
                    } else {
                        let valueStart = j
                        while j < n && !isSpace(bytes[j]) && bytes[j] != UInt8(ascii: ">") { j += 1 }
                        value = decodeEntities(string(valueStart..<j))
                    }
                }
                if !attribute.isEmpty && attributes[attribute] == nil { attributes[attribute] = value }
                selfClosing = false
            }
            i = j + 1
            let element = Element(name: name, attributes: attributes, children: [])
            if voidElements.contains(name) || selfClosing {
                append(.element(element))
            } else if rawTextElements.contains(name) {
                let end = find(Array("</\(name)".utf8), from: i) ?? n
                var raw = element
                if end > i { raw.children = [.text(string(i..<end))] }
                append(.element(raw))
                i = end
                while i < n && bytes[i] != UInt8(ascii: ">") { i += 1 }
                i += 1
            } else {
                stack.append(element)
            }
        }
        while stack.count > 1 {
            let element = stack.removeLast()
            stack[stack.count - 1].children.append(.element(element))
        }
        return stack[0]
    }

    private static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            guard let semicolon = after.prefix(10).firstIndex(of: ";") else {
                out += "&"
                rest = after
                continue
            }
            let entity = after[..<semicolon]
            var decoded: String?
            switch entity {
            case "amp": decoded = "&"
            case "lt": decoded = "<"
            case "gt": decoded = ">"
            case "quot": decoded = "\""
            case "apos": decoded = "'"
            case "nbsp": decoded = "\u{A0}"
            default:
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    decoded = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String($0) }
                } else if entity.hasPrefix("#") {
                    decoded = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init).map { String($0) }
                }
            }
            if let decoded {
                out += decoded
                rest = after[after.index(after: semicolon)...]
            } else {
                out += "&"
                rest = after
            }
        }
        return out + rest
    }
}
