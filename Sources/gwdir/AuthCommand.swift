import ArgumentParser
import Directory
import Foundation
import GeoIP
import LDAPClient

/// `gwdir auth …`: test a login as the login API would see it, and the admin side of the
/// login policies (OTP, mail-only password, lockout, IP blocks).
///
/// Passwords are read from files (`-` for stdin), never from the command line, where `ps`
/// would show them. `--password-file` is the global option for the *bind* password, so the
/// login's password is `--login-password-file` and the mail-only one `--mail-password-file`.
struct Auth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Test logins; manage OTP, mail-only passwords, lockouts and IP blocks.",
        subcommands: [Test.self, OTP.self, MailPassword.self, Unlock.self, IPBlock.self]
    )

    /// Where `auth test` reports attempts: the audit log, as `gwdir serve` does, so a tested
    /// login shows in `gwdir audit list` and moves the account's last login. Writing needs the
    /// service identity (`cn=gwdir`); for any other identity the recording fails, the
    /// authenticator logs why on stderr (swift-log, `gwdir.auth`), and the outcome stands. A one-shot command does no retention housekeeping (that is
    /// `gwdir audit purge`'s and the long-running service's job). It records one login, the
    /// first of its interval for this log, so its last login is written at once and nothing is
    /// left for `flushLastLogins()`.
    static func loginRecorder(for context: DirectoryContext, geoIP: GeoIPDatabase?) -> any LoginRecorder {
        AuditLog(context: context, geoIP: geoIP, purgeInterval: nil)
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the login checks for a login and print the workspaces or the reason.",
            discussion: """
            Exit code 0 when the login succeeds, 4 when it is refused (the reason code and label \
            are printed; Korean labels when LANG or LC_ALL starts with ko). The attempt counts toward \
            the IP auto-block like any other. Without --ip the client address is unknown: logins to \
            workspaces or accounts with allowed networks are refused.
            """
        )

        @Argument(help: "Primary address, or login id with --workspace.")
        var login: String

        @Option(help: "Workspace id (required for a login id).")
        var workspace: String?

        @Option(name: [.customLong("password-file"), .customLong("login-password-file")],
                help: ArgumentHelp("File holding the login's password (first line), `-` for stdin. Bind with --bind-password-file here.", valueName: "file"))
        var loginPasswordFile: String

        @Option(help: ArgumentHelp("TOTP code from the authenticator app.", valueName: "code"))
        var otp: String?

        @Option(help: "Client IP address.")
        var ip: String?

        @Option(help: ArgumentHelp("Login type: \(LoginType.allCases.map(\.rawValue).joined(separator: ", ")) (default: pc).", valueName: "type"))
        var client: String?

        @Option(name: .customLong("user-agent"), help: "User-Agent of a web login (sets pc or mobile_web).")
        var userAgent: String?

        @OptionGroup var geoIP: GeoIPOptions
        @OptionGroup var bind: BindOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let password = try PasswordFile.read(loginPasswordFile)
            let countries = try geoIP.open()
            var address: IPAddress?
            if let ip {
                guard let parsed = IPAddress(ip) else { throw CLIError(.usage, "--ip \(ip) is not an IP address") }
                address = parsed
            }
            let description = try clientDescription()
            let target = try bind.connection.resolve(.service)
            let session = try await target.openDirectory()
            defer { session.close() }
            let context = session.context
            let verifier = LDAPBindVerifier(uris: target.uris, maxIdle: 1)
            let authenticator = Authenticator(context: context, passwords: verifier, recorder: Auth.loginRecorder(for: context, geoIP: countries))
            let response = await authenticator.login(LoginRequest(
                login: login, workspace: workspace, password: password, otp: otp, ip: address, client: description
            ))
            await verifier.close()
            let language = DisplayLanguage(environment: ProcessInfo.processInfo.environment)
            switch response {
            case .success(let success):
                let workspaces = success.workspaces.map { $0.isHome ? "\($0.id) (home)" : $0.id }.joined(separator: ", ")
                output.print(.record([
                    "result": "success", "dn": .string(success.accountDN.description), "address": .string(success.address),
                    "displayName": .string(success.displayName), "type": .string(description.loginType.rawValue),
                    "workspaces": .string(workspaces),
                ]))
            case .failure(let reason):
                output.print(.record([
                    "result": "failure", "reason": .string(reason.rawValue), "label": .string(reason.label(for: language)),
                    "type": .string(description.loginType.rawValue),
                ]))
                throw ExitCode(ExitStatus.permissionDenied.rawValue)
            }
        }

        private func clientDescription() throws -> ClientDescription {
            guard let client else { return ClientDescription(userAgent: userAgent) }
            guard let type = LoginType(rawValue: client.lowercased()) else {
                throw CLIError(.usage, "--client \(client): use one of \(LoginType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let mail = MailProtocol(rawValue: type.rawValue) { return ClientDescription(mailProtocol: mail) }
            if let declared = DeclaredClient(rawValue: type.rawValue) { return ClientDescription(userAgent: userAgent, declared: declared) }
            var description = ClientDescription(userAgent: userAgent)
            description.loginType = type
            description.isMobile = type == .mobileWeb
            return description
        }
    }

    struct OTP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "otp",
            abstract: "Enrol, confirm or disable TOTP for an account.",
            subcommands: [Enrol.self, Confirm.self, Disable.self]
        )

        struct Enrol: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create a new OTP secret and print it with its otpauth:// URI (shown once).",
                discussion: "OTP stays off until `gwdir auth otp confirm` checks a code from the app."
            )
            @Argument(help: "Primary address of the account.") var address: String
            @Option(help: "Issuer name shown by authenticator apps.") var issuer = "gwdir"
            @OptionGroup var connection: ConnectionOptions
            @OptionGroup var output: OutputOptions

            func run() async throws {
                let account = try MailAddress(address)
                let enrolment = try await connection.withDirectory { try await OTPService(context: $0, issuer: issuer).enrol(account) }
                output.print(.record([
                    "dn": .string(enrolment.accountDN.description), "secret": .string(enrolment.secret), "uri": .string(enrolment.uri),
                ]))
            }
        }

        struct Confirm: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Turn OTP on after checking a code from the user's app.")
            @Argument(help: "Primary address of the account.") var address: String
            @Argument(help: "The current code.") var code: String
            @OptionGroup var connection: ConnectionOptions

            func run() async throws {
                let account = try MailAddress(address)
                try await connection.withDirectory { context in try await OTPService(context: context).confirm(account, code: code) }
                FileHandle.standardError.write(Data("gwdir: OTP enabled for \(account)\n".utf8))
            }
        }

        struct Disable: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Turn OTP off and delete the secret.")
            @Argument(help: "Primary address of the account.") var address: String
            @OptionGroup var connection: ConnectionOptions

            func run() async throws {
                let account = try MailAddress(address)
                try await connection.withDirectory { context in try await OTPService(context: context).disable(account) }
                FileHandle.standardError.write(Data("gwdir: OTP disabled for \(account)\n".utf8))
            }
        }
    }

    struct MailPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mail-password",
            abstract: "Set, clear or show the mail-only password (IMAP/POP3/SMTP) of an account.",
            discussion: "While one is set, mail clients must use it; the account password only works for web logins.",
            subcommands: [Set.self, Clear.self, Show.self]
        )

        struct Set: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add or replace the mail-only password.")
            @Argument(help: "Primary address of the account.") var address: String
            @Option(name: .customLong("mail-password-file"), help: ArgumentHelp("File holding the mail-only password (first line), `-` for stdin.", valueName: "file"))
            var mailPasswordFile: String
            @OptionGroup var connection: ConnectionOptions

            func run() async throws {
                let account = try MailAddress(address)
                let password = try PasswordFile.read(mailPasswordFile)
                try await connection.withDirectory { context in try await MailPasswordService(context: context).set(account, password: password) }
                FileHandle.standardError.write(Data("gwdir: mail-only password set for \(account)\n".utf8))
            }
        }

        struct Clear: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove the mail-only password; the account password works for mail again.")
            @Argument(help: "Primary address of the account.") var address: String
            @OptionGroup var connection: ConnectionOptions

            func run() async throws {
                let account = try MailAddress(address)
                try await connection.withDirectory { context in try await MailPasswordService(context: context).clear(account) }
                FileHandle.standardError.write(Data("gwdir: mail-only password cleared for \(account)\n".utf8))
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show whether a mail-only password is in use.")
            @Argument(help: "Primary address of the account.") var address: String
            @OptionGroup var connection: ConnectionOptions
            @OptionGroup var output: OutputOptions

            func run() async throws {
                let account = try MailAddress(address)
                let isSet = try await connection.withDirectory { try await MailPasswordService(context: $0).isSet(account) }
                output.print(.record(["address": .string(account.description), "mailPasswordSet": .bool(isSet)]))
            }
        }
    }

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear a password-policy lockout (login_blocked) of an account and its mail-only password.",
            discussion: "Runs as the service account: only it (and root) may clear ppolicy's lockout attributes."
        )
        @Argument(help: "Primary address of the account.") var address: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let account = try MailAddress(address)
            let cleared = try await connection.withDirectory { try await AccountLockout(context: $0).unlock(account) }
            FileHandle.standardError.write(Data("gwdir: \(account) \(cleared ? "unlocked" : "was not locked")\n".utf8))
        }
    }

    struct IPBlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ipblock",
            abstract: "List or lift automatic IP blocks (auto_blocked_ip).",
            subcommands: [List.self, Lift.self]
        )

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List blocked addresses (--all: also addresses with recent failures).")
            @Flag(help: "Include addresses that are counting failures but not blocked.") var all = false
            @OptionGroup var connection: ConnectionOptions
            @OptionGroup var output: OutputOptions

            func run() async throws {
                let entries = try await connection.withDirectory { try await IPBlockService(context: $0).list(blockedOnly: !all) }
                output.print(.list(columns: ["ip", "failures", "windowStart", "blockedUntil", "dn"], rows: entries.map { entry in
                    [
                        .string(entry.ip), .integer(entry.state.failureCount), .string(GeneralizedTime.format(entry.state.windowStart)),
                        OutputValue(entry.state.blockedUntil.map(GeneralizedTime.format)), .string(entry.dn.description),
                    ]
                }))
            }
        }

        struct Lift: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Lift the block of an address (and forget its failures).")
            @Argument(help: "The blocked IP address.") var ip: String
            @OptionGroup var connection: ConnectionOptions

            func run() async throws {
                guard let address = IPAddress(ip) else { throw CLIError(.usage, "\(ip) is not an IP address") }
                try await connection.withDirectory { context in try await IPBlockService(context: context).lift(address) }
                FileHandle.standardError.write(Data("gwdir: block of \(address) lifted\n".utf8))
            }
        }
    }
}
