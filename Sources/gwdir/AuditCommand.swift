import ArgumentParser
import Directory
import Foundation
import GeoIP
import LDAPClient

/// `gwdir audit`: the login audit log (spec §5, §7).
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List and purge the login audit log.",
        subcommands: [List.self, Purge.self, Country.self]
    )

    /// `gwdir audit list`: newest first; reasons and types in Korean when LANG/LC_ALL say `ko`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List login events, newest first.",
            discussion: """
            --since/--until take a span back from now (7d, 12h, 30m), a UTC day (2026-11-01: its \
            start for --since, its end for --until) or a UTC time (2026-11-01T09:30:00Z). \
            An --account address that names no account lists the attempts made with that login name.
            """
        )

        @Option(help: ArgumentHelp("Only this account (its primary address).", valueName: "address"))
        var account: String?

        @Option(help: ArgumentHelp("Only this login type: \(LoginType.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "type"))
        var type: String?

        @Option(help: ArgumentHelp("Only success or failure.", valueName: "result"))
        var result: String?

        // `.unconditional`: ArgumentParser would otherwise read a value such as `-1` as a flag
        // and say "Missing value"; taken as the value, it gets a message that says what is wrong.
        @Option(parsing: .unconditional, help: ArgumentHelp("Events at or after this time (7d, 2026-11-01, …).", valueName: "time"))
        var since: String?

        @Option(parsing: .unconditional, help: ArgumentHelp("Events at or before this time.", valueName: "time"))
        var until: String?

        @Option(parsing: .unconditional, help: ArgumentHelp("At most this many entries (the newest), 1 to 1,000,000.", valueName: "n"))
        var limit: String?

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let now = Date()
            let type = try self.type.map { text in
                guard let type = LoginType(argument: text) else {
                    throw CLIError(.usage, "unknown login type \"\(text)\" (use \(LoginType.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return type
            }
            let result = try self.result.map { text in
                guard let result = LoginResult(rawValue: text.lowercased()) else { throw CLIError(.usage, "--result is success or failure") }
                return result
            }
            let since = try self.since.map { try AuditTimeArgument.parse($0, as: .since, now: now) }
            let until = try self.until.map { try AuditTimeArgument.parse($0, as: .until, now: now) }
            let limit = try self.limit.map { try CountArgument.parse($0, option: "--limit", range: 1...1_000_000) }
            let address = try account.map { try MailAddress($0) }

            let entries = try await connection.withDirectory { context in
                // An address that names no account lists the attempts made with that login name.
                var accountDN: DistinguishedName?
                if let address, let account = try await AccountService(context).account(mail: address) {
                    accountDN = account.dn
                }
                return try await AuditLog(context: context).events(
                    account: accountDN, loginName: accountDN == nil ? address?.description : nil,
                    type: type, result: result, since: since, until: until, limit: limit
                )
            }
            let language = DisplayLanguage(environment: ProcessInfo.processInfo.environment)
            output.print(Self.report(entries, language: language, format: output.format))
        }

        static func report(_ entries: [AuditEntry], language: DisplayLanguage, format: OutputFormat) -> Report {
            func time(_ date: Date?) -> OutputValue {
                date.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null
            }
            if format == .json {
                let columns = ["dn", "firstTime", "lastTime", "count", "account", "login", "type", "typeLabel", "client",
                               "ip", "country", "result", "reason", "reasonLabel", "workspace"]
                return .list(columns: columns, rows: entries.map { entry in
                    [
                        .string(entry.dn.description), time(entry.firstTime), time(entry.lastTime), .integer(entry.count),
                        OutputValue(entry.accountDN?.description), .string(entry.loginName), .string(entry.typeCode),
                        .string(entry.type?.label(for: language) ?? entry.typeCode), OutputValue(entry.client),
                        OutputValue(entry.ip), .string(entry.country), OutputValue(entry.result?.rawValue),
                        OutputValue(entry.reasonCode), OutputValue(entry.reason?.label(for: language) ?? entry.reasonCode),
                        OutputValue(entry.workspaceDN?.description),
                    ]
                })
            }
            let columns = ["first", "last", "count", "account", "type", "ip", "country", "result", "reason"]
            return .list(columns: columns, rows: entries.map { entry in
                let reason = entry.reasonCode.map { code in entry.reason.map { "\(code) (\($0.label(for: language)))" } ?? code }
                return [
                    time(entry.firstTime), time(entry.lastTime), .integer(entry.count),
                    .string(entry.loginName.isEmpty ? (entry.accountDN?.description ?? "") : entry.loginName),
                    .string(entry.type?.label(for: language) ?? entry.typeCode), OutputValue(entry.ip), .string(entry.country),
                    OutputValue(entry.result?.rawValue), OutputValue(reason),
                ]
            })
        }
    }

    /// `gwdir audit purge`: what `gwdir serve` also does by itself once an hour.
    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete login events older than the retention period (and idle IP block entries)."
        )

        @Option(parsing: .unconditional, help: ArgumentHelp("Keep this many days, 1 to 36525 (default 60).", valueName: "n"))
        var days: String = String(AuditRetention().days)

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let days = try CountArgument.parse(days, option: "--days", range: 1...36_525)
            let purged = try await connection.withDirectory { context in
                try await AuditLog(context: context, retention: AuditRetention(days: days)).purgeExpired()
            }
            output.print(.record([
                "cutoff": .string(ISO8601DateFormatter().string(from: purged.cutoff)),
                "events": .integer(purged.events), "ipBlocks": .integer(purged.ipBlocks),
            ]))
        }
    }

    /// `gwdir audit country <ip>`: checks the GeoIP database the audit log would use.
    struct Country: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the country the GeoIP database gives an IP address (what login events record)."
        )

        @Argument(help: ArgumentHelp("An IPv4 or IPv6 address.", valueName: "ip"))
        var ip: String

        @OptionGroup var geoIP: GeoIPOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let address = IPAddress(ip) else { throw CLIError(.usage, "\"\(ip)\" is not an IP address") }
            let database = try geoIP.open()
            let country = database?.country(for: address) ?? AuditLog.unknownCountry
            output.print(.record(["ip": .string(address.description), "country": .string(country), "database": OutputValue(database?.path)]))
        }
    }
}

/// `--geoip` / `GWDIR_GEOIP`: the MaxMind-format country database; without one every
/// country is `unknown`.
struct GeoIPOptions: ParsableArguments {
    @Option(name: .customLong("geoip"), help: ArgumentHelp("MaxMind-format .mmdb country database. [env: GWDIR_GEOIP]", valueName: "file"))
    var path: String?

    func open(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> GeoIPDatabase? {
        guard let path = path ?? environment["GWDIR_GEOIP"].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        do {
            return try GeoIPDatabase(path: path)
        } catch let error as GeoIPError {
            throw CLIError(.usage, error.description)
        }
    }
}
