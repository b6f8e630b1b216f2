import Logging

/// The label of `gwdir serve`'s own logger (requests, start and stop, the recorder's drain);
/// the directory layer's subsystems log under theirs (`DirectoryLogging`).
public enum ServerLogging {
    public static let label = "gwdir.server"
    public static var logger: Logger { Logger(label: label) }
}

/// `StreamLogHandler` (stderr), with metadata kept as set and rendered only for a line that is
/// written. `StreamLogHandler` renders its metadata every time it is set, and Hummingbird sets a
/// request id on every request's logger: that rendering showed in the policy benchmark's
/// profile although nothing was logged at the server's level.
public struct LazyMetadataLogHandler: LogHandler {
    private var stream: StreamLogHandler
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, level: Logger.Level) {
        stream = StreamLogHandler.standardError(label: label)
        stream.logLevel = level
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        var event = event
        event.metadata = merged.isEmpty ? nil : merged
        stream.log(event: event)
    }
}
