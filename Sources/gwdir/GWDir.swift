import ArgumentParser
import Foundation

/// The `gwdir` admin CLI (spec §7).
///
/// Exit codes, stable for scripts (see ``ExitStatus``):
/// 0 ok · 1 other failure · 2 usage · 3 not found / `local status`: stopped ·
/// 4 permission denied (bad credentials, refused by ACL) · 5 conflict (already exists,
/// uniqueness or constraint) · 6 directory unreachable (connection failed, none configured).
///
/// Every error is one line on stderr, `gwdir: error: …`, never a stack trace.
@main
struct GWDir: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gwdir",
        abstract: "The directory behind a mail and groupware service, kept in OpenLDAP.",
        discussion: """
        With no --uri (or GWDIR_URI), commands use the local directory in ./.gwdir \
        (`gwdir local start`). Exit codes: 0 ok, 1 failure, 2 usage, 3 not found or stopped, \
        4 permission denied, 5 conflict, 6 directory unreachable.
        """,
        subcommands: [
            Local.self, Init.self, WhoAmI.self, WorkspaceCommand.self, UnitCommand.self, UserCommand.self, AliasCommand.self,
            GroupCommand.self, SharedCommand.self, AdminCommand.self, Auth.self, Audit.self, CheckCommand.self, MailConfigCommand.self, Serve.self,
        ]
    )

    /// Replaces ArgumentParser's `main` so that every failure maps to a documented exit code
    /// and a single line, whatever layer it came from.
    static func main() async {
        do {
            var command = try parseAsRoot()
            CLILogging.bootstrap(try CLILogging.level(for: command))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as CLIError {
            fail(error)
        } catch let error where isArgumentParserError(error) {
            let code = exitCode(for: error)
            if code == .validationFailure {
                fail(CLIError(.usage, message(for: error) + " (see `gwdir help`)"))
            }
            exit(withError: error)
        } catch {
            fail(CLIError(error))
        }
    }

    /// Errors ArgumentParser knows how to report (help, usage, explicit exit codes).
    private static func isArgumentParserError(_ error: any Error) -> Bool {
        let code = exitCode(for: error)
        return code == .success || code == .validationFailure || error is ExitCode || error is ValidationError
    }

    static func fail(_ error: CLIError) -> Never {
        let line = error.message.split(whereSeparator: \.isNewline).joined(separator: " ")
        FileHandle.standardError.write(Data("gwdir: error: \(line)\n".utf8))
        Foundation.exit(error.status.rawValue)
    }
}
