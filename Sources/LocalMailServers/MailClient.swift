// A raw IMAP and POP3 client over blocking sockets: the policy tests and gwdir-bench's IMAP
// logins. The async entry points run each session on a thread of their own; the blocking ones
// are for callers that already are on threads of their own (the bench's load threads).
import Foundation
import LocalSlapd
#if canImport(Glibc)
import Glibc
#endif

/// Raw IMAP and POP3 logins from a chosen 127.0.0.0/8 source address.
public enum MailClient {
    public struct Answer: Sendable {
        public var ok: Bool
        /// The server's final line (the refusal text, for a refused login).
        public var line: String
    }

    public static func imapLogin(port: Int, source: String, user: String, password: String) async throws -> Answer {
        try await onThreadOfItsOwn { try blockingIMAPLogin(port: port, source: source, user: user, password: password) }
    }

    public static func pop3Login(port: Int, source: String, user: String, password: String) async throws -> Answer {
        try await onThreadOfItsOwn { try blockingPOP3Login(port: port, source: source, user: user, password: password) }
    }

    /// `body` over a connection from `source`, on a thread of its own.
    public static func session<T: Sendable>(port: Int, source: String, _ body: @escaping @Sendable (IO) throws -> T) async throws -> T {
        try await onThreadOfItsOwn { try blockingSession(port: port, source: source, body) }
    }

    public static func blockingIMAPLogin(port: Int, source: String, user: String, password: String) throws -> Answer {
        try blockingSession(port: port, source: source) { io in
            _ = try io.readLine() // * OK greeting
            try io.send("a1 LOGIN \"\(user)\" \"\(password)\"\r\n")
            while true {
                let line = try io.readLine()
                if line.hasPrefix("a1 ") {
                    // The answer is in; a LOGOUT the server no longer reads changes nothing.
                    try? io.send("a2 LOGOUT\r\n")
                    return Answer(ok: line.hasPrefix("a1 OK"), line: line)
                }
            }
        }
    }

    public static func blockingPOP3Login(port: Int, source: String, user: String, password: String) throws -> Answer {
        try blockingSession(port: port, source: source) { io in
            _ = try io.readLine() // +OK greeting
            try io.send("USER \(user)\r\n")
            _ = try io.readLine()
            try io.send("PASS \(password)\r\n")
            let line = try io.readLine()
            try? io.send("QUIT\r\n") // as LOGOUT above: the answer is in
            return Answer(ok: line.hasPrefix("+OK"), line: line)
        }
    }

    public final class IO {
        /// How long a read waits for the server (SO_RCVTIMEO).
        static let answerTimeoutSeconds = 20
        let fd: Int32
        var buffer: [UInt8] = []
        init(fd: Int32) { self.fd = fd }

        public func send(_ text: String) throws {
            let bytes = Array(text.utf8)
            guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
                throw DovecotServer.StartError(description: "write failed: errno \(errno)")
            }
        }

        public func readLine() throws -> String {
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    buffer.removeSubrange(...newline)
                    return line
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let count = read(fd, &chunk, chunk.count)
                if count < 0, errno == EINTR { continue }
                if count < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                    throw DovecotServer.StartError(description: "no answer within \(IO.answerTimeoutSeconds) s")
                }
                guard count > 0 else {
                    throw DovecotServer.StartError(description: count == 0 ? "connection closed by the server" : "read failed: errno \(errno)")
                }
                buffer += chunk[..<count]
            }
        }
    }

    public static func blockingSession<T>(port: Int, source: String, _ body: (IO) throws -> T) throws -> T {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DovecotServer.StartError(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: IO.answerTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = UInt16(port).bigEndian
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }) == 0 else {
            throw DovecotServer.StartError(description: "bind \(source): errno \(errno)")
        }
        guard withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } }) == 0 else {
            throw DovecotServer.StartError(description: "connect \(port): errno \(errno)")
        }
        return try body(IO(fd: fd))
    }
}
