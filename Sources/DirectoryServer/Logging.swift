import Logging

/// The label of `gwdir serve`'s own logger (requests, start and stop, the recorder's drain);
/// the directory layer's subsystems log under theirs (`DirectoryLogging`).
public enum ServerLogging {
    public static let label = "gwdir.server"
    public static var logger: Logger { Logger(label: label) }
}
