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
    /// Where the child's stdout and stderr go (stdin is /dev/null unless `stdin` is given).
    public enum Output: Sendable {
        case descriptors(stdout: Int32, stderr: Int32)
        /// Both to this file, created or truncated, mode 0600.
        case file(String)
    }

    /// Spawns `executable` with `arguments`. `closeOtherDescriptors` closes every descriptor above
    /// stderr in the child (for daemons that outlive us). `environment` replaces ours when given;
    /// `workingDirectory` is the child's current directory; `stdin`, a descriptor, replaces /dev/null.
    public static func spawn(
        _ executable: String, _ arguments: [String], output: Output, closeOtherDescriptors: Bool = false,
        environment: [String: String]? = nil, workingDirectory: String? = nil, stdin: Int32? = nil
    ) throws -> pid_t {
        // See ``makePipe()``: no pipe of ours is half made while a child inherits our descriptors.
        try descriptorLock.withLock {
            try spawnLocked(executable, arguments, output: output, closeOtherDescriptors: closeOtherDescriptors,
                            environment: environment, workingDirectory: workingDirectory, stdin: stdin)
        }
    }

    private static func spawnLocked(
        _ executable: String, _ arguments: [String], output: Output, closeOtherDescriptors: Bool,
        environment: [String: String]?, workingDirectory: String?, stdin: Int32?
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
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

    /// Runs a tool to completion and returns its exit status and its stdout and stderr (one
    /// stream, in the order written). `input` is written to its stdin while that output is read,
    /// both through one `poll` loop: a tool that answers before it has read everything (ldapadd
    /// prints a line per entry) fills the output pipe, and writing all input first would then
    /// wait on it forever.
    public static func run(
        _ executable: String, _ arguments: [String], input: [UInt8]? = nil,
        environment: [String: String]? = nil, workingDirectory: String? = nil
    ) throws -> (status: Int32, output: [UInt8]) {
        let output = try makePipe()
        var stdin: (read: Int32, write: Int32)?
        do {
            stdin = try input.map { _ in try makePipe() }
        } catch {
            close(output.read)
            close(output.write)
            throw error
        }
        let pid: pid_t
        do {
            pid = try spawn(executable, arguments, output: .descriptors(stdout: output.write, stderr: output.write),
                            environment: environment, workingDirectory: workingDirectory, stdin: stdin?.read)
        } catch {
            for fd in [output.read, output.write, stdin?.read, stdin?.write].compactMap({ $0 }) { close(fd) }
            throw error
        }
        // The child holds its ends now; ours would keep the pipes open after it exits.
        close(output.write)
        if let stdin { close(stdin.read) }
        defer { close(output.read) }
        let collected = pump(input: input ?? [], to: stdin?.write, from: output.read)
        return (waitForExit(pid), collected)
    }

    /// Writes `input` to `inputFD` (then closes it) while reading `outputFD` to its end.
    private static func pump(input: [UInt8], to inputFD: Int32?, from outputFD: Int32) -> [UInt8] {
        // A child that exits without reading all its input makes our write fail with EPIPE, and
        // raise SIGPIPE, which kills a process that has not ignored it: blocked on this thread
        // while we write, and taken back before the mask is restored.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var savedMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &savedMask)
        var brokenPipe = false
        defer {
            if brokenPipe, sigismember(&savedMask, SIGPIPE) == 0 {
                var now = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&pipeSignal, nil, &now)
            }
            pthread_sigmask(SIG_SETMASK, &savedMask, nil)
        }

        var inputFD = inputFD
        if let fd = inputFD {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            if input.isEmpty {
                close(fd)
                inputFD = nil
            }
        }
        var written = 0
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var outputOpen = true
        while outputOpen || inputFD != nil {
            var fds = [pollfd(fd: outputOpen ? outputFD : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: inputFD ?? -1, events: Int16(POLLOUT), revents: 0)]
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            if let fd = inputFD, fds[1].revents != 0 {
                let count = input.withUnsafeBytes { bytes in
                    write(fd, bytes.baseAddress! + written, min(bytes.count - written, 64 * 1024))
                }
                if count > 0 {
                    written += count
                } else if count < 0, errno != EAGAIN, errno != EINTR {
                    // EPIPE: the child stopped reading; what it made of the rest is in its output.
                    brokenPipe = errno == EPIPE
                    written = input.count
                }
                if written == input.count {
                    close(fd)
                    inputFD = nil
                }
            }
            if outputOpen, fds[0].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(outputFD, $0.baseAddress, $0.count) }
                if count > 0 {
                    collected.append(contentsOf: buffer[..<count])
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    outputOpen = false
                }
            }
        }
        return collected
    }

    /// Serialises ``makePipe()`` with every spawn: `pipe2` (atomically close-on-exec) is not in
    /// Swift's Glibc module, and a pipe end that a concurrent spawn inherits before it is marked
    /// close-on-exec stays open in that child — a slapd started by another test would keep our
    /// output pipe open, and our read waiting, for as long as it runs.
    private static let descriptorLock = NSLock()

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        try descriptorLock.withLock {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw SlapdError("pipe() failed: \(String(cString: strerror(errno)))") }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return (fds[0], fds[1])
        }
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
