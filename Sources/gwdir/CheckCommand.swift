import ArgumentParser
import Directory
import Foundation

/// `gwdir check`: the directory's invariants (``DirectoryInvariants``), one row per violation.
/// Exit 0 when clean, 5 (conflict) when violations remain, so a cron job or CI can alert on it.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the directory's invariants: entry shapes, addresses, admins, alias counts, login ids.",
        discussion: """
        Reads everything below ou=workspaces (run it as the service or root: a narrower identity \
        sees part of the tree). Prints one row per violation (code, dn, message). Only alias \
        counters are repaired (--repair); the rest needs an admin's decision. Exit 0 when clean, \
        5 when violations remain.
        """
    )

    @Option(help: ArgumentHelp("Only report violations inside this workspace.", valueName: "id"))
    var workspace: String?

    @Flag(help: "First set gwAliasCount to the number of aliases where they disagree, then check again.")
    var repair = false

    @Flag(help: "Report accounts without gwLoginKey (off until every account has one).")
    var requireLoginKey = false

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let (repairs, violations) = try await connection.withDirectory { context in
            let check = DirectoryCheck(context, requireLoginKey: requireLoginKey)
            let repairs = repair ? try await check.repairAliasCounts(workspace: workspace) : []
            return (repairs, try await check.run(workspace: workspace))
        }
        for repair in repairs {
            let line = repair.outcome == .repaired
                ? "repaired gwAliasCount of \(repair.dn): \(repair.previous ?? "none") → \(repair.aliases)"
                : "not repaired (\(repair.outcome.rawValue)): gwAliasCount of \(repair.dn) is \(repair.previous ?? "none"), \(repair.aliases) aliases"
            // stdout stays one JSON or CSV document in those formats.
            if output.format == .table { Swift.print(line) } else { FileHandle.standardError.write(Data("gwdir: \(line)\n".utf8)) }
        }
        if violations.isEmpty, output.format == .table {
            Swift.print("no violations" + (workspace.map { " in workspace \($0)" } ?? ""))
        } else {
            output.print(.list(columns: ["code", "dn", "message"], rows: violations.map { [.string($0.code), .string($0.dn), .string($0.message)] }))
        }
        if !violations.isEmpty {
            throw CLIError(.conflict, "\(violations.count) violation\(violations.count == 1 ? "" : "s") of the directory's invariants")
        }
    }
}
