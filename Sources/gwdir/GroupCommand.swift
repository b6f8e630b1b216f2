import ArgumentParser
import Directory

/// `gwdir group …` (group mail) and `gwdir shared …` (shared mailboxes): the same commands.
protocol MailGroupCommandKind {
    static var kind: MailGroup.Kind { get }
    static var noun: String { get }
}

enum GroupKind: MailGroupCommandKind {
    static let kind = MailGroup.Kind.group
    static let noun = "group mail"
}

enum SharedKind: MailGroupCommandKind {
    static let kind = MailGroup.Kind.shared
    static let noun = "shared mailbox"
}

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Manage group mail (distribution lists) and their members.",
        subcommands: [MailGroupAdd<GroupKind>.self, MailGroupShow<GroupKind>.self, MailGroupList<GroupKind>.self,
                      MailGroupMembers<GroupKind>.self, MailGroupRemove<GroupKind>.self]
    )
}

struct SharedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shared",
        abstract: "Manage shared mailboxes and who may open them.",
        subcommands: [MailGroupAdd<SharedKind>.self, MailGroupShow<SharedKind>.self, MailGroupList<SharedKind>.self,
                      MailGroupMembers<SharedKind>.self, MailGroupRemove<SharedKind>.self]
    )
}

struct MailGroupAdd<Kind: MailGroupCommandKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: "add", abstract: "Add a \(Kind.noun).") }
    @Argument(help: "Its address.") var address: String
    @OptionGroup var scope: ScopeOptions
    @Option(name: .customLong("display-name"), help: "Display name.") var displayName: String?
    @Option(help: ArgumentHelp("A member's address (repeatable).", valueName: "address")) var member: [String] = []
    @Option(parsing: .unconditional, help: "Mail quota (shared mailboxes), e.g. 10G.") var quota: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        guard let unit = try scope.unitPath() else { throw CLIError(.usage, "--unit is required") }
        let quotaBytes = try quota.map(Quota.parse)
        let group = try await connection.withDirectory {
            try await GroupService($0).add(Kind.kind, address: address, workspace: scope.workspace, unit: unit, displayName: displayName,
                                           members: member, quota: quotaBytes)
        }
        output.confirm("added \(Kind.noun) \(group.address) with \(group.members.count) member\(group.members.count == 1 ? "" : "s")", Render.group(group))
    }
}

struct MailGroupShow<Kind: MailGroupCommandKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: "show", abstract: "Show a \(Kind.noun) and its members.") }
    @Argument(help: "Its address.") var address: String
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        output.print(Render.group(try await connection.withDirectory { try await GroupService($0).show(address) }))
    }
}

struct MailGroupList<Kind: MailGroupCommandKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: "list", abstract: "List the \(Kind.noun)s of a workspace.") }
    @Option(help: "Workspace id.") var workspace: String
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let groups = try await connection.withDirectory { try await GroupService($0).list(Kind.kind, workspace: workspace) }
        output.print(.list(columns: ["mail", "displayName", "unit", "members", "dn"], rows: groups.map {
            [.string($0.address), OutputValue($0.displayName), OutputValue($0.unit?.description), .list($0.members), .string($0.dn.description)]
        }))
    }
}

struct MailGroupMembers<Kind: MailGroupCommandKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: "members", abstract: "Add or remove members of a \(Kind.noun).") }
    @Argument(help: "Its address.") var address: String
    @Option(help: ArgumentHelp("Add a member (repeatable).", valueName: "address")) var add: [String] = []
    @Option(help: ArgumentHelp("Remove a member (repeatable).", valueName: "address")) var remove: [String] = []
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let group = try await connection.withDirectory { try await GroupService($0).editMembers(address, add: add, remove: remove) }
        output.confirm("\(group.address): \(group.members.count) member\(group.members.count == 1 ? "" : "s")", Render.group(group))
    }
}

struct MailGroupRemove<Kind: MailGroupCommandKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: "remove", abstract: "Remove a \(Kind.noun).") }
    @Argument(help: "Its address.") var address: String
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await connection.withDirectory { try await GroupService($0).remove(address) }
        output.confirm("removed \(Kind.noun) \(address)", .record(["mail": .string(address), "removed": .bool(true)]))
    }
}
