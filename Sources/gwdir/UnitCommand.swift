import ArgumentParser
import Directory

/// `gwdir unit add|show|list|rename|move|delete`.
struct UnitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit",
        abstract: "Manage org units (nested: sales/east).",
        subcommands: [Add.self, Show.self, List.self, Rename.self, Move.self, Delete.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an org unit, at the top of the workspace or under --parent.")
        @Argument(help: "Unit name.") var name: String
        @Option(help: "Workspace id.") var workspace: String
        @Option(help: ArgumentHelp("Parent unit path, e.g. sales.", valueName: "path")) var parent: String?
        @Option(name: .customLong("billing-id"), help: "Billing id (set by workspace admins).") var billingId: String?
        @Option(name: .customLong("display-name"), help: "Display name (e.g. 영업부).") var displayName: String?
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let parentPath = try parent.map(UnitPath.init)
            let unit = try await connection.withDirectory {
                try await UnitService($0).add(name, workspace: workspace, parent: parentPath, displayName: displayName, billingId: billingId)
            }
            output.confirm("added unit \(unit.path) to \(workspace)", Render.unit(unit))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an org unit.")
        @Argument(help: "Unit path.") var path: String
        @Option(help: "Workspace id.") var workspace: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let path = try UnitPath(path)
            output.print(Render.unit(try await connection.withDirectory { try await UnitService($0).show(path, workspace: workspace) }))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the org units of a workspace as a tree.")
        @Option(help: "Workspace id.") var workspace: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let units = try await connection.withDirectory { try await UnitService($0).list(workspace: workspace) }
            if output.format == .table {
                for unit in units {
                    let indent = String(repeating: "  ", count: unit.depth - 1)
                    var line = "\(indent)\(unit.name)"
                    if let displayName = unit.displayName { line += " (\(displayName))" }
                    line += "  \(unit.accountCount) account\(unit.accountCount == 1 ? "" : "s")"
                    if let billing = unit.billingId { line += "  billing \(billing)" }
                    print(line)
                }
            } else {
                output.print(.list(columns: ["path", "name", "depth", "displayName", "billingId", "accounts", "dn"], rows: units.map {
                    [.string($0.path.description), .string($0.name), .integer($0.depth), OutputValue($0.displayName),
                     OutputValue($0.billingId), .integer($0.accountCount), .string($0.dn.description)]
                }))
            }
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rename an org unit (its contents follow).")
        @Argument(help: "Unit path.") var path: String
        @Argument(help: "New name.") var newName: String
        @Option(help: "Workspace id.") var workspace: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let path = try UnitPath(path)
            let unit = try await connection.withDirectory { try await UnitService($0).rename(path, workspace: workspace, to: newName) }
            output.confirm("renamed unit \(path) to \(unit.path)", Render.unit(unit))
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move an org unit under another (--to-top for the workspace's top level).")
        @Argument(help: "Unit path.") var path: String
        @Option(help: "Workspace id.") var workspace: String
        @Option(help: ArgumentHelp("New parent unit path.", valueName: "path")) var parent: String?
        @Flag(name: .customLong("to-top"), help: "Move to the top level of the workspace.") var toTop = false
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if (parent == nil) == !toTop { throw ValidationError("give either --parent <path> or --to-top") }
        }

        func run() async throws {
            let path = try UnitPath(path)
            let newParent = try parent.map(UnitPath.init)
            let unit = try await connection.withDirectory { try await UnitService($0).move(path, workspace: workspace, under: newParent) }
            output.confirm("moved unit \(path) to \(unit.path)", Render.unit(unit))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an empty org unit.")
        @Argument(help: "Unit path.") var path: String
        @Option(help: "Workspace id.") var workspace: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let path = try UnitPath(path)
            try await connection.withDirectory { try await UnitService($0).delete(path, workspace: workspace) }
            output.confirm("deleted unit \(path) of \(workspace)", .record(["workspace": .string(workspace), "path": .string(path.description), "deleted": .bool(true)]))
        }
    }
}
