import ArgumentParser
import Directory
import DirectoryServer
import Foundation
import GeoIP
import LocalSlapd
import Logging

extension PolicyFailMode: ExpressibleByArgument {}

/// `gwdir serve`: Dovecot's auth-policy endpoint and `/health` (README, "`gwdir serve`").
/// Runs as the service identity until SIGTERM or SIGINT, then finishes in-flight requests,
/// flushes the audit log's deferred last logins and exits 0.
struct Serve: AsyncParsableCommand, LogLevelChoosing {
    static let configuration = CommandConfiguration(
        abstract: "Serve Dovecot's auth policy (POST /dovecot/policy) and GET /health.",
        discussion: """
        With no --uri it serves the local directory in ./.gwdir as cn=gwdir. Dovecot sends the key \
        of --policy-key-file (default ./.gwdir/secrets/policy.key, written by `gwdir init`) in \
        X-API-Key. SIGTERM/SIGINT stop it gracefully (exit 0).
        """
    )

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host:port"))
    var listen = "127.0.0.1:8380"

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var geoIP: GeoIPOptions

    @Option(name: .customLong("policy-key-file"), help: ArgumentHelp(
        "File holding the key Dovecot sends in X-API-Key. (default: ./.gwdir/secrets/policy.key)", valueName: "file"
    ))
    var policyKeyFile: String?

    @Option(name: .customLong("trusted-proxy"), parsing: .upToNextOption, help: ArgumentHelp(
        "Proxies (CIDR) whose X-Forwarded-For names the API client.", valueName: "cidr"
    ))
    var trustedProxies: [String] = []

    @Option(name: .customLong("policy-fail"), help: ArgumentHelp(
        "When the directory cannot answer an allow: open (allow, log an error) or closed (refuse).", valueName: "open|closed"
    ))
    var policyFail: PolicyFailMode = .open

    @Option(name: .customLong("spool-dir"), help: ArgumentHelp(
        "Where reports wait, fsync'd, until slapd has them (default: ./.gwdir/spool). `none`: write to slapd directly.",
        valueName: "dir"
    ))
    var spoolDirectory: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "trace, debug (one line per request), info, notice, warning, error, critical. [env: GWDIR_LOG_LEVEL]", valueName: "level"
    ))
    var logLevel: String?

    /// `--log-level`, else GWDIR_LOG_LEVEL, else debug with `--verbose` and info without
    /// (a server's start, stop and refusals belong in its log). ``GWDir/main()`` bootstraps it.
    func chosenLogLevel() throws -> Logger.Level {
        let name = logLevel ?? ProcessInfo.processInfo.environment["GWDIR_LOG_LEVEL"] ?? (connection.verbose ? "debug" : "info")
        guard let level = Logger.Level(rawValue: name.lowercased()) else {
            throw CLIError(.usage, "--log-level: use trace, debug, info, notice, warning, error or critical")
        }
        return level
    }

    func run() async throws {
        if connection.actingAdmin != nil { throw CLIError(.usage, "serve runs as the service identity: --as does not apply") }
        let (host, port): (String, Int)
        let proxies: AllowedNetworks
        do {
            (host, port) = try ServerConfiguration.parseListen(listen)
            proxies = try AllowedNetworks(parsing: trustedProxies)
        } catch {
            throw CLIError(.usage, "\(error)")
        }
        let target = try connection.resolve(.service)
        let keyURL = policyKeyFile.map { URL(fileURLWithPath: $0) } ?? (target.local ?? LocalInstance.inWorkingDirectory()).policyKeyFile
        let key: PolicyKey
        do {
            key = try PolicyKey(contentsOf: keyURL)
        } catch {
            throw CLIError(.usage, "\(error.message) (run `gwdir init` or pass --policy-key-file)")
        }
        let countries = try geoIP.open()

        let logger = ServerLogging.logger
        let session = try await target.openDirectory()
        defer { session.close() }
        let server = DirectoryServer(
            configuration: ServerConfiguration(host: host, port: port, policyKey: key, failMode: policyFail, trustedProxies: proxies),
            context: session.context,
            recorder: try recorder(context: session.context, geoIP: countries, local: target.local),
            executor: session.connections.last?.executor, // the service connection
            logger: logger
        )
        let uri = target.uriDescription
        let failMode = policyFail.rawValue
        try await server.run { port in
            logger.notice("serving", metadata: ["listen": "\(host):\(port)", "directory": "\(uri)", "policy-fail": "\(failMode)"])
        }
        logger.notice("stopped")
    }

    private func recorder(context: DirectoryContext, geoIP: GeoIPDatabase?, local: LocalInstance?) throws -> RecorderHandle {
        if spoolDirectory == "none" { return RecorderHandle.auditLog(context: context, geoIP: geoIP) }
        let directory = spoolDirectory.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: ".gwdir", isDirectory: true).appendingPathComponent("spool", isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            return try RecorderHandle.spooled(context: context, geoIP: geoIP, directory: directory)
        } catch {
            throw CLIError(.failure, "cannot open the spool in \(directory.path): \(error)")
        }
    }
}
