/// Bytes that do not decode as the Parquet encoding they claim to be: what was expected and
/// at which byte of the buffer being decoded (a page, or a footer).
public struct ParquetDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset in the buffer being decoded.
    public var offset: Int
    /// What was expected there, and what was found.
    public var reason: String

    public init(offset: Int, _ reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "at byte \(offset): \(reason)" }
}
