import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts the servers and tools gwdir runs (slapd, Dovecot) with posix_spawn, not Foundation's
/// `Process`:
/// - the child starts with no blocked signal and default handlers; Swift's and the test runner's
///   threads block SIGTERM, and an inherited mask makes a server ignore a clean stop;
/// - `Process` learns of the exit through a descriptor the child inherits, which a daemonising
///   slapd would keep open forever, and its `waitUntilExit` spins inside an atexit handler.
public enum ChildProcess {
    /// Where the child's stdout and stderr go (stdin is always /dev/null).
    public enum Output: Sendable {
        case descriptors(stdout: Int32, stderr: Int32)
        /// Both to this file, created or truncated, mode 0600.
        case file(String)
    }

    /// Spawns `executable` with `arguments`. `closeOtherDescriptors` closes every descriptor above
    /// stderr in the child (for daemons that outlive us). `environment` replaces ours when given;
    /// `workingDirectory` is the child's current directory.
    public static func spawn(
        _ executable: String, _ arguments: [String], output: Output, closeOtherDescriptors: Bool = false,
        environment: [String: String]? = nil, workingDirectory: String? = nil
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        switch output {
        case .descriptors(let stdout, let stderr):
            posix_spawn_file_actions_adddup2(&actions, stdout, 1)
            posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        if closeOtherDescriptors {
            // glibc ignores a close action on a descriptor that was closed meanwhile.
            let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            for fd in open.compactMap({ Int32($0) }) where fd > 2 {
                posix_spawn_file_actions_addclose(&actions, fd)
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        // posix_spawn_file_actions_addchdir_np is not in Swift's Glibc module: coreutils' env
        // changes directory and then executes the program.
        let (program, programArguments) = workingDirectory.map { ("/usr/bin/env", ["--chdir=\($0)", "--", executable] + arguments) }
            ?? (executable, arguments)
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + programArguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environmentStrings: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { environmentStrings?.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = environmentStrings.map { posix_spawn(&pid, program, &actions, &attributes, argv, $0) }
            ?? posix_spawn(&pid, program, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SlapdError("cannot run \(executable): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Reaps a child and returns its exit status (128 + signal when killed).
    @discardableResult
    public static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return exitStatus(status)
    }

    /// The child's exit status if it has exited (and reaps it), nil while it runs.
    public static func exitStatusIfExited(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == 0 { return nil }
        return rc == pid ? exitStatus(status) : -1
    }

    /// WIFEXITED / WEXITSTATUS are macros Swift cannot import.
    private static func exitStatus(_ status: Int32) -> Int32 {
        status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }
}
