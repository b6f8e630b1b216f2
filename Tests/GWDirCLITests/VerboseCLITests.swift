import Foundation
import Testing
import TestSupport

/// `--verbose` turns on swift-log's debug lines, on stderr only: stdout is byte for byte what
/// it is without the flag, and without it a command that succeeds writes nothing to stderr.
@Suite struct VerboseCLITests {
    @Test func verboseLogsToStderrAndLeavesStdoutAlone() throws {
        let world = try AdminWorld.withUnits("vrb")
        defer { world.cli.cleanUp() }
        for command in [["workspace", "show", world.workspace], ["unit", "list", "--workspace", world.workspace, "--format", "json"], ["whoami"]] {
            let quiet = try world.ok(command)
            let verbose = try world.ok(command + ["--verbose"])
            #expect(verbose.stdout == quiet.stdout, "\(command)")
            #expect(quiet.stderr.isEmpty, "\(command): \(quiet.stderr)")
            let lines = verbose.stderr.split(separator: "\n")
            #expect(lines.contains { $0.contains("debug gwdir.cli:") && $0.contains("connecting") && $0.contains(world.fixture.gwdirDN) },
                    "\(command): \(verbose.stderr)")
            #expect(!verbose.stderr.contains(world.fixture.gwdirPassword), "no secret in the log")
        }
        // `user add` takes its connection options from BindOptions: the flag is there too.
        let passwordFile = try world.file("pw-v", "pw-secret-v")
        let added = try world.ok(["user", "add", "vera", "--workspace", world.workspace, "--unit", "dev", "--first-name", "Vera",
                                  "--last-name", "V", "--mail", world.mail("vera"), "--password-file", passwordFile, "--verbose"])
        #expect(added.stderr.contains("connecting"), "\(added.stderr)")
    }
}
