// The report benchmark's load generator: keep-alive HTTP/1.1 connections on one thread of its
// own with epoll, each sending its next request when the previous one is answered. It does what
// wrk does, with the requests encoded before the clock starts: a load generator shares the two
// cores with the server and slapd, so what it spends per request is taken from the server
// (SwiftNIO's HTTP client spent about 35 µs per request here; this spends about a third).
import CBenchBaseline
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Closed-loop load over `connections` keep-alive connections to 127.0.0.1:`port`.
final class ClosedLoopHTTPLoad: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let port: Int
    private var sockets: [Int32] = []

    /// Connects every socket now, so connecting is not part of the measured run.
    init(port: Int, connections: Int) throws {
        self.port = port
        do {
            for _ in 0..<connections { sockets.append(try Self.connect(port: port)) }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    func close() {
        for socket in sockets { Glibc.close(socket) }
        sockets = []
    }

    /// Encodes a request as the server reads it off the wire.
    static func encode(_ request: PolicyHTTPRequest, key: String) -> [UInt8] {
        let body = Array(request.body.readableBytesView)
        let head = "POST \(request.uri) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-API-Key: \(key)\r\n"
            + "Content-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }

    /// Sends every request once, each connection one at a time, and returns when all are
    /// answered (or one connection fails: the tally then holds the error). Blocks its thread.
    func run(_ requests: [[UInt8]], tally: ResponseTally) {
        var connections = sockets.map { Connection(socket: $0) }
        var next = 0
        var outstanding = 0
        func send(_ index: Int) -> Bool {
            guard next < requests.count else { return true }
            connections[index].sentAt = monotonicSeconds()
            guard Self.writeAll(connections[index].socket, requests[next]) else {
                tally.failed("writing a request failed: errno \(errno)")
                return false
            }
            next += 1
            outstanding += 1
            return true
        }
        for index in connections.indices { guard send(index) else { return } }
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { return tally.failed("epoll_create1: errno \(errno)") }
        defer { Glibc.close(epoll) }
        for index in connections.indices {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = UInt64(index)
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, connections[index].socket, &event) == 0 else {
                return tally.failed("epoll_ctl: errno \(errno)")
            }
        }
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while outstanding > 0 {
            let ready = epoll_wait(epoll, &events, Int32(events.count), 30_000)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { return tally.failed("no answer within 30 s (\(outstanding) outstanding)") }
            for slot in 0..<Int(ready) {
                let index = Int(events[slot].data.u64)
                let count = read(connections[index].socket, &buffer, buffer.count)
                guard count > 0 else { return tally.failed("connection closed with a request unanswered (errno \(errno))") }
                connections[index].received.append(contentsOf: buffer[0..<count])
                while let response = connections[index].takeResponse() {
                    switch response {
                    case .failure(let failure):
                        return tally.failed(failure.description)
                    case .success(let (status, body)):
                        outstanding -= 1
                        tally.record(latency: monotonicSeconds() - connections[index].sentAt, status: .init(statusCode: status), body: body)
                        guard send(index) else { return }
                    }
                }
            }
        }
    }

    private struct Connection {
        let socket: Int32
        var received: [UInt8] = []
        var sentAt = 0.0

        /// A whole response off the front of `received`, or nil while it is incomplete.
        mutating func takeResponse() -> Result<(Int, String), Failure>? {
            guard let headEnd = received.firstRange(of: [13, 10, 13, 10]) else { return nil }
            let head = String(decoding: received[..<headEnd.lowerBound], as: UTF8.self)
            let lines = head.split(separator: "\r\n")
            let statusLine = lines.first?.split(separator: " ") ?? []
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
                return .failure(Failure(description: "not an HTTP response: \(head.prefix(80))"))
            }
            var length = 0
            for line in lines.dropFirst() {
                let field = line.split(separator: ":", maxSplits: 1)
                if field.count == 2, field[0].lowercased() == "content-length" {
                    length = Int(field[1].trimmingCharacters(in: .whitespaces)) ?? -1
                }
            }
            guard length >= 0 else { return .failure(Failure(description: "a bad Content-Length: \(head.prefix(200))")) }
            let end = headEnd.upperBound + length
            guard received.count >= end else { return nil }
            let body = String(decoding: received[headEnd.upperBound..<end], as: UTF8.self)
            received.removeFirst(end)
            return .success((status, body))
        }
    }

    private static func connect(port: Int) throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(socket)
            throw Failure(description: "connecting to 127.0.0.1:\(port): errno \(code)")
        }
        var one: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return socket
    }

    /// Blocking write of a whole request (a few hundred bytes into an empty socket buffer).
    private static func writeAll(_ socket: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(socket, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }
}
