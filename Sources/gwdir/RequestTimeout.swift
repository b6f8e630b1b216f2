import ArgumentParser
import LDAPClient

/// `--timeout <seconds>` (or `GWDIR_TIMEOUT`): how long each request to the directory may wait
/// for its answer. A frozen server then fails a command with exit 6 instead of hanging it.
struct RequestTimeout: ExpressibleByArgument, Sendable {
    /// The library's own default, so the CLI and the services agree.
    static let `default` = LDAPConfiguration.defaultRequestTimeout

    var duration: Duration

    /// A positive number of seconds (fractions allowed, at most a day); nil otherwise, which
    /// ArgumentParser reports as a usage error.
    init?(argument: String) {
        guard let seconds = Double(argument), seconds.isFinite, seconds > 0, seconds <= 86_400 else { return nil }
        let milliseconds = (seconds * 1000).rounded()
        guard milliseconds >= 1 else { return nil }
        duration = .milliseconds(Int64(milliseconds))
    }

    /// The flag, else a non-empty `GWDIR_TIMEOUT`, else the default.
    static func resolve(_ flag: RequestTimeout?, environment: [String: String]) throws -> Duration {
        if let flag { return flag.duration }
        guard let text = environment["GWDIR_TIMEOUT"], !text.isEmpty else { return Self.default }
        guard let value = RequestTimeout(argument: text) else {
            throw CLIError(.usage, "GWDIR_TIMEOUT must be a positive number of seconds, not \"\(text)\"")
        }
        return value.duration
    }
}
