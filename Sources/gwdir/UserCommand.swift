import ArgumentParser
import Directory
import Foundation

/// `gwdir user …`: accounts, named by their primary address.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage accounts (one login + one mailbox), named by primary address.",
        subcommands: [Add.self, Show.self, Find.self, Edit.self, Passwd.self, StatusCommand<Suspend>.self, StatusCommand<Resume>.self,
                      StatusCommand<Disable>.self, StatusCommand<Delete>.self, StatusCommand<Restore>.self, Move.self, Purge.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an account.",
            discussion: "The password comes from --password-file, or is asked twice on the terminal. Bind with --bind-password-file here."
        )
        @Argument(help: "Login id (uid, unique in the workspace).") var login: String
        @Option(help: "Workspace id.") var workspace: String
        @Option(help: ArgumentHelp("Org unit path.", valueName: "path")) var unit: String
        @Option(name: .customLong("first-name"), help: "First (given) name.") var firstName: String
        @Option(name: .customLong("last-name"), help: "Last (family) name.") var lastName: String
        @Option(name: .customLong("display-name"), help: "Display name (default: from the names; 김민준 for Korean names).") var displayName: String?
        @Option(help: ArgumentHelp("Primary SMTP address.", valueName: "address")) var mail: String
        @Option(name: .customLong("password-file"), help: ArgumentHelp("File holding the new account's password, `-` for stdin.", valueName: "file")) var passwordFile: String?
        @Option(help: "mail, groupware or both.") var service: String = "both"
        @Option(parsing: .unconditional, help: "Mail quota, e.g. 500M, 10G.") var quota: String?
        @OptionGroup var bind: BindOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let type = ServiceType(rawValue: service.lowercased()) else {
                throw CLIError(.usage, "--service must be mail, groupware or both")
            }
            let quotaBytes = try quota.map(Quota.parse)
            let path = try UnitPath(unit)
            let address = try MailAddress(mail)
            let password = try newPassword(file: passwordFile, for: address.description)
            var new = NewAccount(loginId: login, workspace: workspace, unit: path, firstName: firstName, lastName: lastName,
                                 mail: address.description, password: password)
            new.displayName = displayName
            new.serviceType = type
            new.quota = quotaBytes
            let account = try await bind.connection.withDirectory { try await AccountService($0).add(new) }
            output.confirm("added \(account.mail) (\(account.displayName)) in \(account.workspace)/\(account.unit?.description ?? "")", Render.account(account))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an account: aliases, POP3/SMTP, last login within 3 months, mail-only password.")
        @Argument(help: "Primary address.") var address: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let (now, account) = try await connection.withDirectory { ($0.now(), try await AccountService($0).show(address)) }
            output.print(Render.account(account, now: now))
        }
    }

    struct Find: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Find accounts by address, first name or last name (exact or --prefix), in a unit and its sub-units or the whole workspace.")
        @OptionGroup var scope: ScopeOptions
        @Option(help: "Primary address.") var mail: String?
        @Option(name: .customLong("first-name"), help: "First name.") var firstName: String?
        @Option(name: .customLong("last-name"), help: "Last name.") var lastName: String?
        @Flag(help: "Match the beginning (김 finds 김민준).") var prefix = false
        @Flag(name: .customLong("include-deleted"), help: "Include deleted accounts.") var includeDeleted = false
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if [mail, firstName, lastName].compactMap({ $0 }).count != 1 {
                throw ValidationError("give exactly one of --mail, --first-name, --last-name")
            }
        }

        func run() async throws {
            let (field, value): (AccountSearchField, String) =
                if let mail { (.mail, mail) } else if let firstName { (.firstName, firstName) } else { (.lastName, lastName ?? "") }
            let unit = try scope.unitPath()
            let accounts = try await connection.withDirectory {
                try await AccountService($0).find(workspace: scope.workspace, unit: unit, field: field, value: value, prefix: prefix, includeDeleted: includeDeleted)
            }
            output.print(Render.accounts(accounts))
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an account's names, service type, quota, services or allowed networks.")
        @Argument(help: "Primary address.") var address: String
        @Option(name: .customLong("first-name")) var firstName: String?
        @Option(name: .customLong("last-name")) var lastName: String?
        @Option(name: .customLong("display-name")) var displayName: String?
        @Option(help: "mail, groupware or both.") var service: String?
        @Option(parsing: .unconditional, help: "Mail quota, e.g. 10G.") var quota: String?
        @Option(help: ArgumentHelp("Enable imap, pop3, smtp or web (repeatable).", valueName: "service")) var enable: [String] = []
        @Option(help: ArgumentHelp("Disable imap, pop3, smtp or web (repeatable).", valueName: "service")) var disable: [String] = []
        @Option(name: .customLong("allow-network"), help: ArgumentHelp("Only allow logins from this CIDR.", valueName: "cidr")) var allowNetwork: [String] = []
        @Option(name: .customLong("remove-network"), help: ArgumentHelp("Remove an allowed network.", valueName: "cidr")) var removeNetwork: [String] = []
        @Option(name: .customLong("recovery-mail"), help: "Address for password-reset links (empty removes it).") var recoveryMail: String?
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            var changes = AccountService.Changes()
            changes.firstName = firstName
            changes.lastName = lastName
            changes.displayName = displayName
            if let service {
                guard let type = ServiceType(rawValue: service.lowercased()) else { throw CLIError(.usage, "--service must be mail, groupware or both") }
                changes.serviceType = type
            }
            changes.quota = try quota.map(Quota.parse)
            changes.enableServices = try enable.map(EnabledService.parse)
            changes.disableServices = try disable.map(EnabledService.parse)
            changes.addAllowedNetworks = allowNetwork
            changes.removeAllowedNetworks = removeNetwork
            changes.recoveryMail = recoveryMail
            let account = try await connection.withDirectory { try await AccountService($0).edit(address, changes) }
            output.confirm("updated \(account.mail)", Render.account(account))
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set an account's password (admin reset).",
            discussion: "The old password then reports password_changed_by_admin. Bind with --bind-password-file here."
        )
        @Argument(help: "Primary address.") var address: String
        @Option(name: .customLong("password-file"), help: ArgumentHelp("File holding the new password, `-` for stdin.", valueName: "file")) var passwordFile: String?
        @OptionGroup var bind: BindOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let password = try newPassword(file: passwordFile, for: address)
            try await bind.connection.withDirectory { try await AccountService($0).setPassword(address, to: password) }
            output.confirm("password of \(address) changed", .record(["mail": .string(address), "passwordChanged": .bool(true)]))
        }
    }

    /// suspend, resume, disable, delete and restore: one command shape, five changes.
    protocol StatusChange {
        static var name: String { get }
        static var abstract: String { get }
        static var done: String { get }
        static func apply(_ service: AccountService, _ address: String) async throws -> Account
    }

    struct StatusCommand<Change: StatusChange>: AsyncParsableCommand {
        static var configuration: CommandConfiguration { CommandConfiguration(commandName: Change.name, abstract: Change.abstract) }
        @Argument(help: "Primary address.") var address: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let account = try await connection.withDirectory { try await Change.apply(AccountService($0), address) }
            output.confirm("\(Change.done) \(account.mail) (now \(account.status.rawValue))", Render.account(account))
        }
    }

    enum Suspend: StatusChange {
        static let name = "suspend", done = "suspended", abstract = "Suspend an account: no logins; mail is still delivered."
        static func apply(_ service: AccountService, _ address: String) async throws -> Account { try await service.suspend(address) }
    }

    enum Resume: StatusChange {
        static let name = "resume", done = "resumed", abstract = "Resume a suspended or disabled account."
        static func apply(_ service: AccountService, _ address: String) async throws -> Account { try await service.resume(address) }
    }

    enum Disable: StatusChange {
        static let name = "disable", done = "disabled", abstract = "Disable an account: no logins, no mail."
        static func apply(_ service: AccountService, _ address: String) async throws -> Account { try await service.disable(address) }
    }

    enum Delete: StatusChange {
        static let name = "delete", done = "deleted", abstract = "Delete an account; restorable for 30 days (`user restore`), then purged."
        static func apply(_ service: AccountService, _ address: String) async throws -> Account { try await service.delete(address) }
    }

    enum Restore: StatusChange {
        static let name = "restore", done = "restored", abstract = "Restore an account deleted within the last 30 days."
        static func apply(_ service: AccountService, _ address: String) async throws -> Account { try await service.restore(address) }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move an account to another unit of its workspace (its aliases move with it).")
        @Argument(help: "Primary address.") var address: String
        @Option(help: ArgumentHelp("Target unit path.", valueName: "path")) var unit: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let path = try UnitPath(unit)
            let account = try await connection.withDirectory { try await AccountService($0).move(address, to: path) }
            output.confirm("moved \(account.mail) to \(account.unit?.description ?? "")", Render.account(account))
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove accounts deleted more than 30 days ago (run daily, e.g. from cron).")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let purged = try await connection.withDirectory { try await AccountService($0).purgeDeleted() }
            output.confirm("purged \(purged.count) account\(purged.count == 1 ? "" : "s")" + (purged.isEmpty ? "" : ": " + purged.joined(separator: ", ")),
                           .record(["purged": .list(purged)]))
        }
    }
}


