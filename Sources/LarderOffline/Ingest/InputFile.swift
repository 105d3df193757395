import Crypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file read sequentially in large chunks into a growable buffer that the readers parse in
/// place, so memory stays bounded by the longest record, not the file.
package final class InputFile {
    let path: String
    package let size: Int64
    private let fd: Int32
    private(set) var buffer: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Valid bytes are `buffer[0..<end]`.
    private(set) var end = 0
    private(set) var bytesRead: Int64 = 0
    private(set) var atEOF = false
    /// Whether the file was read by ranges (``bytes(in:)``), which need not cover every byte.
    private var readByRange = false
    /// When set, every byte read is hashed (training-set manifests record the request file's hash).
    var digest: SHA256?

    /// The modification time when the file was opened (seconds, nanoseconds).
    private let modified: (Int, Int)

    package init(path: String, chunkSize: Int = 1 << 20) throws(IngestError) {
        self.path = path
        fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw IngestError(file: path, reason: "cannot open the file: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw IngestError(file: path, reason: "not a regular file")
        }
        size = Int64(info.st_size)
        modified = Self.modificationTime(info)
        capacity = chunkSize
        buffer = .allocate(capacity: chunkSize)
    }

    private static func modificationTime(_ info: stat) -> (Int, Int) {
        #if canImport(Darwin)
            (info.st_mtimespec.tv_sec, info.st_mtimespec.tv_nsec)
        #else
            (info.st_mtim.tv_sec, info.st_mtim.tv_nsec)
        #endif
    }

    /// Whether the file changed while it was read, in words (nil when it did not): its size
    /// or modification time differ from when it was opened, or fewer bytes were read than it
    /// had. A truncated file can end in a cut value that still parses (586 read as 5), so a
    /// reader checks this after its last record, and before reporting an error of its own.
    func change() -> String? {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            return "the file changed while it was read (it can no longer be examined: \(String(cString: strerror(errno))))"
        }
        let nowSize = Int64(info.st_size)
        let nowModified = Self.modificationTime(info)
        let readAll = !atEOF || bytesRead == size || readByRange
        guard nowSize != size || nowModified != modified || !readAll else { return nil }
        var what: [String] = []
        if nowSize != size { what.append("its size went from \(size) to \(nowSize) bytes") }
        if nowModified != modified { what.append("it was modified") }
        if !readAll { what.append("\(bytesRead) of its \(size) bytes could be read") }
        return "the file changed while it was read (\(what.joined(separator: ", ")))"
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// The bytes of `range` of the file, read where they are (`pread`), for formats read out of
    /// order (Parquet: the footer, then each row group). Counts towards ``bytesRead``.
    func bytes(in range: Range<Int>) throws(IngestError) -> [UInt8] {
        let out = try readRange(range)
        bytesRead += Int64(range.count)
        readByRange = true
        return out
    }

    private func readRange(_ range: Range<Int>) throws(IngestError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: range.count)
        var done = 0
        while done < range.count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, range.count - done, off_t(range.lowerBound + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IngestError(file: path, reason: "read failed: \(String(cString: strerror(errno)))")
            }
            guard n > 0 else {
                throw IngestError(file: path, reason: "the file ends at byte \(range.lowerBound + done), before \(range.upperBound)")
            }
            done += n
        }
        return out
    }

    /// Drops `buffer[0..<keepFrom]`, moving the rest to the front, growing the buffer if it is
    /// full, then reads more. Returns how far bytes moved (subtract it from saved offsets) and
    /// whether anything was read.
    func refill(keepingFrom keepFrom: Int) throws(IngestError) -> (shift: Int, readAny: Bool) {
        if keepFrom > 0 {
            let keep = end - keepFrom
            if keep > 0 { buffer.update(from: buffer + keepFrom, count: keep) }
            end = keep
        }
        if end == capacity {
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            bigger.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = bigger
            capacity *= 2
        }
        guard !atEOF else { return (keepFrom, false) }
        while true {
            let n = read(fd, buffer + end, capacity - end)
            if n < 0 {
                if errno == EINTR { continue }
                throw IngestError(file: path, reason: "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { atEOF = true }
            if n > 0, digest != nil { digest!.update(bufferPointer: UnsafeRawBufferPointer(start: buffer + end, count: n)) }
            end += n
            bytesRead += Int64(n)
            return (keepFrom, n > 0)
        }
    }
}

extension InputFile {
    /// Hashes the whole file into ``digest``, for a file read by ranges (Parquet), whose
    /// reads cover only what the reader needs and not in order. Not counted in ``bytesRead``.
    func hashEveryByte() throws(IngestError) {
        var hasher = SHA256()
        var offset = 0
        while offset < Int(size) {
            let chunk = try readRange(offset..<min(offset + (1 << 20), Int(size)))
            hasher.update(data: chunk)
            offset += chunk.count
        }
        digest = hasher
    }
}
