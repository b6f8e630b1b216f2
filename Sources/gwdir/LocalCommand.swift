import ArgumentParser
import Foundation
import LocalSlapd

/// `gwdir local start|stop|status`: the embedded directory under `./.gwdir`.
struct Local: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a local slapd with the gwdir schema under ./.gwdir (the default directory when no --uri is set).",
        subcommands: [Start.self, Stop.self, Status.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the local directory (idempotent) and print its URI.",
            discussion: """
            The first start creates ./.gwdir: slapd's configuration from the bundled schema, a \
            root password (./.gwdir/secrets, mode 0600) and a loopback port kept for later starts. \
            slapd runs detached and keeps running after this command exits.
            """
        )

        @Option(help: ArgumentHelp("Base DN, used when ./.gwdir is first created. [env: GWDIR_BASE] (default: \(BaseDN.default))", valueName: "dn"))
        var base: String?

        @OptionGroup var output: OutputOptions

        func run() async throws {
            let instance = LocalInstance.inWorkingDirectory()
            let requested = try (base ?? ProcessInfo.processInfo.environment["GWDIR_BASE"].flatMap { $0.isEmpty ? nil : $0 })
                .map(BaseDN.normalize)
            if let requested, let existing = try instance.configuration(), existing.baseDN != requested {
                throw CLIError(.conflict, "the local directory in \(instance.directory.path) has base \(existing.baseDN), not \(requested); remove it to start over")
            }
            let started = try instance.start(baseDN: requested ?? BaseDN.default)
            let note = started.wasRunning ? "already running (pid \(started.pid))" : "started (pid \(started.pid)) in \(instance.directory.path)"
            FileHandle.standardError.write(Data("gwdir: local directory \(note)\n".utf8))
            if output.format == .table {
                print(started.configuration.uri)
            } else {
                output.print(.record([
                    "status": "running", "uri": .string(started.configuration.uri), "pid": .integer(Int(started.pid)),
                    "base": .string(started.configuration.baseDN), "alreadyRunning": .bool(started.wasRunning),
                ]))
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the local directory (idempotent); its data stays in ./.gwdir.")

        func run() async throws {
            let stopped = try LocalInstance.inWorkingDirectory().stop()
            FileHandle.standardError.write(Data("gwdir: local directory \(stopped ? "stopped" : "was not running")\n".utf8))
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show whether the local directory runs, with its URI and pid.",
            discussion: "Exit code 0 when running, 3 when stopped (or never started here)."
        )

        @OptionGroup var output: OutputOptions

        func run() async throws {
            let instance = LocalInstance.inWorkingDirectory()
            let configuration = try instance.configuration()
            let status = try instance.status()
            var pid = OutputValue.null
            if case .running(let value) = status { pid = .integer(Int(value)) }
            output.print(.record([
                "status": status == .stopped ? "stopped" : "running",
                "uri": OutputValue(configuration?.uri),
                "pid": pid,
                "base": OutputValue(configuration?.baseDN),
                "directory": .string(instance.directory.path),
            ]))
            if status == .stopped { throw ExitCode(ExitStatus.notFound.rawValue) }
        }
    }
}
