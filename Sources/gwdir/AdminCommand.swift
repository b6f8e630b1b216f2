import ArgumentParser
import Directory

/// `gwdir admin grant|revoke|list`: workspace and unit admins.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Grant, revoke and list workspace admins and unit admins (--unit).",
        subcommands: [Grant.self, Revoke.self, List.self]
    )

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an account admin of the workspace, or of --unit and its sub-units.")
        @Argument(help: "The account's primary address.") var address: String
        @OptionGroup var scope: ScopeOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let unit = try scope.unitPath()
            let granted = try await connection.withDirectory { try await AdminService($0).grant(address, workspace: scope.workspace, unit: unit) }
            let scopeName = scope.describe(unit)
            output.confirm(granted ? "\(address) is now admin of \(scopeName)" : "\(address) was already admin of \(scopeName)",
                           .record(["admin": .string(address), "workspace": .string(scope.workspace), "unit": OutputValue(unit?.description), "granted": .bool(granted)]))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take an admin role away.")
        @Argument(help: "The account's primary address.") var address: String
        @OptionGroup var scope: ScopeOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let unit = try scope.unitPath()
            try await connection.withDirectory { try await AdminService($0).revoke(address, workspace: scope.workspace, unit: unit) }
            output.confirm("\(address) is no longer admin of \(scope.describe(unit))",
                           .record(["admin": .string(address), "workspace": .string(scope.workspace), "unit": OutputValue(unit?.description), "revoked": .bool(true)]))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the admins of the workspace or of --unit (--all: every scope in it).")
        @OptionGroup var scope: ScopeOptions
        @Flag(help: "Include the admins of every unit below the scope.") var all = false
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let unit = try scope.unitPath()
            let roles = try await connection.withDirectory { try await AdminService($0).list(workspace: scope.workspace, unit: unit, includeUnits: all) }
            output.print(.list(columns: ["admin", "scope", "workspace", "unit", "dn"], rows: roles.map {
                [.string($0.admin), .string($0.unit == nil ? "workspace" : "unit"), .string($0.workspace), OutputValue($0.unit?.description), .string($0.adminDN)]
            }))
        }
    }
}
