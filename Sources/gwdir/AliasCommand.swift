import ArgumentParser
import Directory

/// `gwdir alias add|list|remove`: sub-account aliases (at most 5 per account).
struct AliasCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alias",
        abstract: "Manage sub-account aliases: addresses that deliver into a folder of the owner's mailbox (at most 5).",
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an alias to an account.")
        @Argument(help: "The owner's primary address.") var owner: String
        @Argument(help: "The alias address.") var alias: String
        @Option(help: "Folder in the owner's mailbox (default: the alias's local part).") var folder: String?
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let added = try await connection.withDirectory { try await AliasService($0).add(owner: owner, alias: alias, folder: folder) }
            output.confirm("added alias \(added.address) → \(added.owner), folder \(added.folder)", Render.alias(added))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an account's aliases.")
        @Argument(help: "The owner's primary address.") var owner: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let aliases = try await connection.withDirectory { try await AliasService($0).list(owner: owner) }
            output.print(.list(columns: ["alias", "folder", "deliverTo", "owner", "dn"], rows: aliases.map {
                [.string($0.address), .string($0.folder), .string($0.deliverTo), .string($0.owner), .string($0.dn.description)]
            }))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an alias (mail already in its folder stays there).")
        @Argument(help: "The owner's primary address.") var owner: String
        @Argument(help: "The alias address.") var alias: String
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await connection.withDirectory { try await AliasService($0).remove(owner: owner, alias: alias) }
            output.confirm("removed alias \(alias) of \(owner)", .record(["owner": .string(owner), "alias": .string(alias), "removed": .bool(true)]))
        }
    }
}
