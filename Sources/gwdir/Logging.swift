import ArgumentParser
import DirectoryServer
import Logging
import LDAPClient

/// The CLI's logging: swift-log to stderr, bootstrapped once by ``GWDir/main()`` before the
/// command runs, so stdout carries only the command's output (scripts and the CLI tests compare
/// it byte for byte).
///
/// Level: `.debug` with `--verbose`; otherwise `.warning`, not `.error`, because what the
/// directory layer logs at warning (a broken `gwAllowedNetwork`, a write that failed on the
/// side) is what an admin running the command has to see. `gwdir serve` chooses its own
/// (``LogLevelChoosing``).
enum CLILogging {
    static let label = "gwdir.cli"
    static var logger: Logger { Logger(label: label) }

    private static let bootstrapped = LockedValue(false)

    /// Sends every logger to stderr at `level`. Only the first call counts: swift-log allows
    /// one bootstrap per process.
    static func bootstrap(_ level: Logger.Level) {
        bootstrapped.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in LazyMetadataLogHandler(label: label, level: level) }
        }
    }

    /// The level for a parsed command: its own choice, else `--verbose` of its option groups.
    static func level(for command: any ParsableCommand) throws -> Logger.Level {
        if let choosing = command as? any LogLevelChoosing { return try choosing.chosenLogLevel() }
        return isVerbose(command) ? .debug : .warning
    }

    /// Whether an option group of `command` (``ConnectionOptions``, ``BindOptions``) has
    /// `--verbose` set. Commands hold them as `@OptionGroup` properties, found by reflection so
    /// that no command has to forward the flag.
    static func isVerbose(_ command: any ParsableCommand) -> Bool {
        Mirror(reflecting: command).children.contains { ($0.value as? any VerboseOption)?.verbose == true }
    }
}

/// A command that sets its log level itself rather than by `--verbose`.
protocol LogLevelChoosing {
    func chosenLogLevel() throws -> Logger.Level
}

/// Option groups that carry `--verbose`.
protocol VerboseOption {
    var verbose: Bool { get }
}

extension OptionGroup: VerboseOption where Value: VerboseOption {
    var verbose: Bool { wrappedValue.verbose }
}

extension ConnectionOptions: VerboseOption {}
extension BindOptions: VerboseOption {}
