import ArgumentParser
import Directory
import Foundation

extension ConnectionOptions {
    /// Connects (as `--as` when given), runs `body` with the services' context and maps any
    /// failure to one CLI line.
    func withDirectory<T>(_ body: (DirectoryContext) async throws -> T) async throws -> T {
        let target = try resolve(.service)
        let session = try await target.openDirectory()
        defer { session.close() }
        do {
            return try await body(session.context)
        } catch {
            throw target.error(error)
        }
    }
}

/// `--workspace` and `--unit`, as most admin commands take them.
struct ScopeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Workspace id.", valueName: "id"))
    var workspace: String

    @Option(help: ArgumentHelp("Org unit path inside the workspace, e.g. sales/east.", valueName: "path"))
    var unit: String?

    func unitPath() throws -> UnitPath? { try unit.map(UnitPath.init) }

    /// "unit sales/east of acme" or "workspace acme", for confirmations.
    func describe(_ unit: UnitPath?) -> String {
        unit.map { "unit \($0) of \(workspace)" } ?? "workspace \(workspace)"
    }
}

extension OutputOptions {
    /// Prints a one-line confirmation in table format, the full record otherwise.
    func confirm(_ message: String, _ report: @autoclosure () -> Report) {
        if format == .table { Swift.print(message) } else { print(report()) }
    }
}

enum Render {
    static func account(_ account: Account, now: Date = Date()) -> Report {
        let login = account.recentLogin(now: now)
        return .record([
            "dn": .string(account.dn.description),
            "mail": .string(account.mail),
            "loginId": .string(account.loginId),
            "workspace": .string(account.workspace),
            "unit": OutputValue(account.unit?.description),
            "firstName": .string(account.firstName),
            "lastName": .string(account.lastName),
            "displayName": .string(account.displayName),
            "serviceType": .string(account.serviceType.rawValue),
            "status": .string(account.statusVisible ? account.status.rawValue : "unknown"),
            "deletedAt": OutputValue(account.deletedAt.map(Self.time)),
            "enabledServices": .list(account.enabledServices),
            "pop3": .bool(account.enabledServices.contains("pop3")),
            "smtp": .bool(account.enabledServices.contains("smtp")),
            "quota": account.quota.map { .string(Quota.format($0)) } ?? .null,
            "quotaBytes": account.quota.map(OutputValue.integer) ?? .null,
            "usageBytes": account.usage.map(OutputValue.integer) ?? .null,
            "aliases": .list(account.aliases.map(\.address)),
            "mailOnlyPassword": .bool(account.mailPasswordSet),
            "otp": .bool(account.otpEnabled),
            "allowedNetworks": .list(account.allowedNetworks),
            "lastLogin": OutputValue(login.map { Self.time($0.time) }),
            "lastLoginType": OutputValue(login?.type),
            "lastLoginIP": OutputValue(login?.ip),
            "lastLoginCountry": OutputValue(login.map { $0.country ?? "unknown" }),
        ])
    }

    static func accounts(_ accounts: [Account]) -> Report {
        .list(columns: ["mail", "loginId", "lastName", "firstName", "displayName", "unit", "status", "serviceType", "dn"], rows: accounts.map {
            [.string($0.mail), .string($0.loginId), .string($0.lastName), .string($0.firstName), .string($0.displayName),
             OutputValue($0.unit?.description), .string($0.status.rawValue), .string($0.serviceType.rawValue), .string($0.dn.description)]
        })
    }

    static func workspace(_ workspace: Workspace) -> Report {
        .record([
            "dn": .string(workspace.dn.description), "id": .string(workspace.id), "name": .string(workspace.displayName),
            "domains": .list(workspace.domains), "policies": .list(workspace.policies), "allowedNetworks": .list(workspace.allowedNetworks),
        ])
    }

    static func unit(_ unit: OrgUnit) -> Report {
        .record([
            "dn": .string(unit.dn.description), "workspace": .string(unit.workspace), "path": .string(unit.path.description),
            "name": .string(unit.name), "displayName": OutputValue(unit.displayName), "billingId": OutputValue(unit.billingId),
            "accounts": .integer(unit.accountCount),
        ])
    }

    static func group(_ group: MailGroup) -> Report {
        .record([
            "dn": .string(group.dn.description), "kind": .string(group.kind.rawValue), "mail": .string(group.address),
            "displayName": OutputValue(group.displayName), "workspace": .string(group.workspace),
            "unit": OutputValue(group.unit?.description), "members": .list(group.members),
        ])
    }

    static func alias(_ alias: Alias) -> Report {
        .record(["dn": .string(alias.dn.description), "alias": .string(alias.address), "owner": .string(alias.owner),
                 "folder": .string(alias.folder), "deliverTo": .string(alias.deliverTo)])
    }

    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// A password for a new account or a reset: from `--password-file`, else asked twice on the terminal.
func newPassword(file: String?, for who: String) throws -> String {
    if let file { return try PasswordFile.read(file) }
    return try PasswordPrompt.readNew(for: who)
}
