import ArgumentParser
import Directory

/// `gwdir workspace add|show|list|edit`.
struct WorkspaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workspace",
        abstract: "Add, show, list and edit workspaces (a company: display name, mail domains, policy).",
        subcommands: [Add.self, Show.self, List.self, Edit.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a workspace (super admins).")
        @Argument(help: "Workspace id (o=<id>).") var id: String
        @Option(help: "Display name.") var name: String
        @Option(help: ArgumentHelp("A mail domain of the workspace; repeat for more.", valueName: "domain")) var domain: [String] = []
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let workspace = try await connection.withDirectory { try await WorkspaceService($0).add(id: id, displayName: name, domains: domain) }
            output.confirm("added workspace \(workspace.id) (\(workspace.domains.joined(separator: ", ")))", Render.workspace(workspace))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a workspace.")
        @Argument(help: "Workspace id.") var id: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            output.print(Render.workspace(try await connection.withDirectory { try await WorkspaceService($0).show(id) }))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the workspaces.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let workspaces = try await connection.withDirectory { try await WorkspaceService($0).list() }
            output.print(.list(columns: ["id", "name", "domains", "dn"], rows: workspaces.map {
                [.string($0.id), .string($0.displayName), .list($0.domains), .string($0.dn.description)]
            }))
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a workspace's name, domains, policy or allowed networks.")
        @Argument(help: "Workspace id.") var id: String
        @Option(help: "New display name.") var name: String?
        @Option(name: .customLong("add-domain"), help: ArgumentHelp("Add a mail domain.", valueName: "domain")) var addDomain: [String] = []
        @Option(name: .customLong("remove-domain"), help: ArgumentHelp("Remove a mail domain.", valueName: "domain")) var removeDomain: [String] = []
        @Option(help: ArgumentHelp("Set a policy key=value (key= removes it), e.g. otp=required.", valueName: "key=value")) var policy: [String] = []
        @Option(name: .customLong("allow-network"), help: ArgumentHelp("Only allow logins from this CIDR (repeatable).", valueName: "cidr")) var allowNetwork: [String] = []
        @Option(name: .customLong("remove-network"), help: ArgumentHelp("Remove an allowed network.", valueName: "cidr")) var removeNetwork: [String] = []
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            var changes = WorkspaceService.Changes()
            changes.displayName = name
            changes.addDomains = addDomain
            changes.removeDomains = removeDomain
            changes.setPolicies = policy
            changes.addAllowedNetworks = allowNetwork
            changes.removeAllowedNetworks = removeNetwork
            let workspace = try await connection.withDirectory { try await WorkspaceService($0).edit(id, changes) }
            output.confirm("updated workspace \(workspace.id)", Render.workspace(workspace))
        }
    }
}
