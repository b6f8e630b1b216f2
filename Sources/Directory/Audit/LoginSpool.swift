import Foundation
import LDAPClient
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An on-disk, append-only queue of login events: what ``SpooledLoginRecorder`` has accepted
/// and the directory may not have yet.
///
/// Layout of the directory:
/// - `spool.id`: a random id, written once; audit entries name it in `gwSpoolId`.
/// - `segment-<first sequence, 20 digits>.log`: records, appended only. A new segment is
///   started on open and when the current one passes `segmentBytes`; a segment whose every
///   record is drained is deleted.
/// - `checkpoint`: the highest sequence number drained, all below it drained too
///   (fsync'd and renamed into place before any segment is deleted).
/// - `lock`: held with `flock` while open, so two processes never share a spool.
///
/// A record is `length (u32 LE) · CRC-32 of the payload (u32 LE) · payload`, the payload
/// `sequence (u64 LE) · event as JSON`. A crash mid-append leaves a short or corrupt tail:
/// open detects it by length and CRC, logs a warning and cuts the file there (nothing
/// after it was ever acknowledged, since acknowledgement follows fsync).
///
/// Group commit: ``append(_:)`` queues the record and waits; one writer thread writes
/// everything queued since its last turn with one `write` and one `fsync`, then resumes all
/// of those callers. Memory holds only records not yet fsync'd, at most `maxPendingBytes`
/// queued for the next write (later appends wait, in order); the drainer reads events back
/// from disk.
public final class LoginSpool: Sendable {
    public let directory: URL
    /// This spool's id (`gwSpoolId` in the entries it writes).
    public let id: String
    public let segmentBytes: Int
    let logger: Logger
    private let writer: SpoolWriter
    private let lockFD: Int32
    /// Sequence numbers at or below this were appended before this process opened the
    /// spool: some may be in the directory already, so draining them checks first.
    public let recoveredThrough: UInt64
    private let checkpointed: LockedValue<UInt64>
    private let readCursor = LockedValue<ReadCursor?>(nil)
    /// When the checkpoint file was last written, and the number it holds (at open: as read,
    /// and due for the next write).
    private let checkpointWritten: LockedValue<(at: ContinuousClock.Instant, sequence: UInt64)>
    let checkpointInterval: Duration
    /// Set once a listing found no segment but the active one; a new segment makes it stale.
    private let onlyActiveSegment = LockedValue<UInt64?>(nil)

    /// Opens (creating if needed) the spool in `directory`.
    /// `maxPendingBytes` bounds the records queued for the next write; appends beyond it wait.
    /// `checkpointInterval`: how often at most the drainer's progress is written to the
    /// checkpoint file (a crash replays at most that much, checking slapd first).
    public init(
        directory: URL, segmentBytes: Int = 4 << 20, maxPendingBytes: Int = 4 << 20, checkpointInterval: Duration = .milliseconds(250),
        logger: Logger = DirectoryLogging.spool
    ) throws {
        self.directory = directory
        self.checkpointInterval = checkpointInterval
        self.segmentBytes = segmentBytes
        self.logger = logger
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw DirectoryError(.failed, "creating the login spool \(directory.path): \(error)")
        }
        lockFD = open(directory.appendingPathComponent("lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw Self.posixError("opening the spool lock in \(directory.path)") }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            closeFD(lockFD)
            throw DirectoryError(.failed, "the login spool \(directory.path) is in use by another process")
        }
        do {
            id = try Self.readOrCreateID(directory)
            let checkpoint = try Self.readCheckpoint(directory)
            var last = checkpoint
            for segment in try Self.segments(in: directory) {
                let scan = try SpoolSegment.scan(segment.url, logger: logger, repair: true)
                if let lastSequence = scan.lastSequence { last = max(last, lastSequence) }
            }
            recoveredThrough = last
            checkpointed = LockedValue(checkpoint)
            checkpointWritten = LockedValue((ContinuousClock.now.advanced(by: .zero - checkpointInterval), checkpoint))
            writer = try SpoolWriter(directory: directory, nextSequence: last + 1, segmentBytes: segmentBytes, maxPendingBytes: maxPendingBytes, logger: logger)
        } catch {
            closeFD(lockFD)
            throw error
        }
    }

    deinit {
        writer.stop()
        closeFD(lockFD)
    }

    /// Stops the writer and releases the directory. Appends after this fail. What is
    /// appended stays on disk for the next open (a crash and a close leave the same state).
    public func close() {
        writer.stop()
        flock(lockFD, LOCK_UN)
    }

    /// Appends the event and returns its sequence number once it is on disk (fsync'd).
    @discardableResult
    public func append(_ event: LoginEvent) async throws -> UInt64 {
        try await writer.append(SpooledEvent(event).payload)
    }

    /// Group commits so far: fewer than appends when callers overlap.
    var commitCount: Int { writer.commits.load(ordering: .relaxed) }

    /// The highest sequence number on disk.
    public var durableSequence: UInt64 { writer.durableSequence }

    /// Signalled after each group of appends reaches the disk.
    var appended: AsyncStream<Void> { writer.appended }

    public var checkpoint: UInt64 { checkpointed.withLock { $0 } }

    /// Records that every event up to `sequence` is in the directory, then deletes the
    /// segments holding nothing newer (never the one being appended to).
    ///
    /// The file is written (fsync'd and renamed) at most every `checkpointInterval`, when a
    /// segment can go, or with `durable`: the drainer advances after every small batch, and
    /// the file only saves replay work — exactly-once does not depend on it (a restart checks
    /// what slapd has of everything after the file's number). Not whenever the drainer is caught
    /// up: under load it is after nearly every group commit, and two fsyncs per commit on the
    /// connection's thread cost more than the commit. ``flushCheckpoint()`` writes the last one
    /// at shutdown.
    func advanceCheckpoint(to sequence: UInt64, durable: Bool = true) throws {
        checkpointed.withLock { $0 = max($0, sequence) }
        let active = writer.activeSegmentFirst
        // Only the segment being appended to: nothing can be deleted, no listing needed.
        let onlyActive = onlyActiveSegment.withLock { $0 == active }
        var drained: [Segment] = []
        if !onlyActive {
            let segments = try Self.segments(in: directory)
            for (index, segment) in segments.enumerated() where segment.first < active {
                // A segment's records end before the next segment's first sequence.
                let next = index + 1 < segments.count ? segments[index + 1].first : active
                if next - 1 <= sequence { drained.append(segment) }
            }
            if drained.count == segments.count - 1, segments.last?.first == active {
                onlyActiveSegment.withLock { $0 = active }
            }
        }
        let now = ContinuousClock.now
        let due = checkpointWritten.withLock { now - $0.at >= checkpointInterval }
        guard durable || due || !drained.isEmpty else { return }
        let written = checkpoint
        try Self.writeCheckpoint(written, directory)
        checkpointWritten.withLock { $0 = (now, written) }
        for segment in drained {
            do {
                try FileManager.default.removeItem(at: segment.url)
            } catch {
                // Harmless but worth knowing: the next checkpoint tries again, replay skips what is drained.
                logger.warning("deleting a drained spool segment failed", metadata: ["segment": "\(segment.url.lastPathComponent)", "error": "\(error)"])
                onlyActiveSegment.withLock { $0 = nil }
            }
        }
    }

    /// Writes the checkpoint file if it is behind what was drained (at shutdown, so the next
    /// start replays nothing).
    public func flushCheckpoint() throws {
        let current = checkpoint
        guard checkpointWritten.withLock({ $0.sequence < current }) else { return }
        try Self.writeCheckpoint(current, directory)
        checkpointWritten.withLock { $0 = (ContinuousClock.now, current) }
    }

    /// Events with sequence numbers above `after`, in order, at most `limit`, none above the durable end.
    /// The drainer reads where its last read ended (``ReadCursor``), so a batch costs what it
    /// holds, not the whole segment before it.
    func read(after: UInt64, limit: Int) throws -> [(sequence: UInt64, event: LoginEvent)] {
        let end = writer.durableSequence
        guard end > after else { return [] }
        var result: [(UInt64, LoginEvent)] = []
        let saved = readCursor.withLock { $0 }
        // Resuming in the segment being appended to (the drainer's usual turn): it is the
        // last one, so the directory need not be listed.
        let segments: [Segment]
        if let saved, saved.sequence == after, saved.segmentFirst == writer.activeSegmentFirst {
            segments = [Segment(first: saved.segmentFirst, url: directory.appendingPathComponent(Self.segmentName(saved.segmentFirst)))]
        } else {
            segments = try Self.segments(in: directory)
        }
        let resume = saved.flatMap { cursor in
            cursor.sequence == after && segments.contains(where: { $0.first == cursor.segmentFirst }) ? cursor : nil
        }
        var cursor: ReadCursor?
        for (index, segment) in segments.enumerated() {
            if let resume {
                if segment.first < resume.segmentFirst { continue }
            } else if index + 1 < segments.count, segments[index + 1].first <= after + 1 {
                continue
            }
            let startOffset = resume.map { $0.segmentFirst == segment.first ? $0.offset : 0 } ?? 0
            let scan = try SpoolSegment.scan(segment.url, from: startOffset, logger: logger, repair: false) { sequence, payload, recordEnd in
                guard sequence <= end else { return false }
                guard sequence > after else { return true }
                do {
                    result.append((sequence, try SpooledEvent(payload: payload).event))
                } catch {
                    self.logger.error("an unreadable event in the login spool is skipped", metadata: ["sequence": "\(sequence)", "error": "\(error)"])
                }
                cursor = ReadCursor(segmentFirst: segment.first, offset: recordEnd, sequence: sequence)
                return result.count < limit
            }
            if result.count >= limit || scan.stopped { break }
        }
        if let cursor { readCursor.withLock { $0 = cursor } }
        return result
    }

    /// Where the last ``read(after:limit:)`` stopped: the end of the record with `sequence`.
    struct ReadCursor: Sendable {
        var segmentFirst: UInt64
        var offset: Int
        var sequence: UInt64
    }

    // MARK: Files

    struct Segment {
        var first: UInt64
        var url: URL
    }

    static func segmentName(_ first: UInt64) -> String {
        let digits = String(first)
        return "segment-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    static func segments(in directory: URL) throws -> [Segment] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw DirectoryError(.failed, "listing the login spool \(directory.path): \(error)")
        }
        return names.compactMap { name -> Segment? in
            guard name.hasPrefix("segment-"), name.hasSuffix(".log"),
                  let first = UInt64(name.dropFirst(8).dropLast(4)) else { return nil }
            return Segment(first: first, url: directory.appendingPathComponent(name))
        }.sorted { $0.first < $1.first }
    }

    private static func readOrCreateID(_ directory: URL) throws -> String {
        let url = directory.appendingPathComponent("spool.id")
        if let data = FileManager.default.contents(atPath: url.path), let id = String(data: data, encoding: .utf8)?
            .trimmingCharacters(in: .whitespacesAndNewlines), !id.isEmpty {
            return id
        }
        let id = (0..<2).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined(separator: "-")
        try writeDurably(Data(id.utf8), to: url, directory: directory)
        return id
    }

    private static func readCheckpoint(_ directory: URL) throws -> UInt64 {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("checkpoint").path) else { return 0 }
        guard let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), let value = UInt64(text) else {
            throw DirectoryError(.failed, "the login spool's checkpoint in \(directory.path) is unreadable")
        }
        return value
    }

    private static func writeCheckpoint(_ sequence: UInt64, _ directory: URL) throws {
        try writeDurably(Data(String(sequence).utf8), to: directory.appendingPathComponent("checkpoint"), directory: directory)
    }

    /// Write to a temporary file, fsync, rename over the target, fsync the directory.
    static func writeDurably(_ data: Data, to url: URL, directory: URL) throws {
        let temporary = url.path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw posixError("creating \(temporary)") }
        defer { closeFD(fd) }
        try data.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var done = 0
            while done < buffer.count {
                let n = write(fd, base + done, buffer.count - done)
                if n < 0 { throw posixError("writing \(temporary)") }
                done += n
            }
        }
        guard fsync(fd) == 0 else { throw posixError("fsync of \(temporary)") }
        guard rename(temporary, url.path) == 0 else { throw posixError("renaming \(temporary)") }
        try syncDirectory(directory)
    }

    static func syncDirectory(_ directory: URL) throws {
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw posixError("opening \(directory.path)") }
        defer { closeFD(fd) }
        guard fsync(fd) == 0 else { throw posixError("fsync of \(directory.path)") }
    }

    static func posixError(_ doing: String) -> DirectoryError {
        DirectoryError(.failed, "\(doing): \(String(cString: strerror(errno)))")
    }
}

/// Reading and checking one segment file.
enum SpoolSegment {
    static let headerBytes = 8
    /// A record larger than this is corruption, not an event.
    static let maxPayload = 1 << 20

    struct Scan {
        var lastSequence: UInt64?
        /// The visitor asked to stop.
        var stopped = false
    }

    static func encode(sequence: UInt64, payload: Data, into buffer: inout [UInt8]) {
        var body = [UInt8]()
        body.reserveCapacity(8 + payload.count)
        withUnsafeBytes(of: sequence.littleEndian) { body.append(contentsOf: $0) }
        body.append(contentsOf: payload)
        withUnsafeBytes(of: UInt32(body.count).littleEndian) { buffer.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(body).littleEndian) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: body)
    }

    /// Walks the records in order from `startOffset` (a record boundary). A short or corrupt
    /// record ends the segment: with `repair` the file is cut there (a crash mid-append), and a
    /// warning logged either way. `visit` gets each record's sequence, payload and end offset,
    /// and returns false to stop early.
    @discardableResult
    static func scan(_ url: URL, from startOffset: Int = 0, logger: Logger, repair: Bool, visit: ((UInt64, Data, Int) -> Bool)? = nil) throws -> Scan {
        let data: Data
        do {
            if startOffset == 0 {
                data = try Data(contentsOf: url)
            } else {
                let handle = try FileHandle(forReadingFrom: url)
                defer { try? handle.close() } // read-only: closing can not lose anything
                try handle.seek(toOffset: UInt64(startOffset))
                data = try handle.readToEnd() ?? Data()
            }
        } catch {
            throw DirectoryError(.failed, "reading the spool segment \(url.path): \(error)")
        }
        var scan = Scan()
        var offset = 0
        var corrupt: String?
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            while offset < bytes.count {
                guard bytes.count - offset >= headerBytes else { corrupt = "a truncated record header"; return }
                let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                let crc = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                guard length >= 8, length <= maxPayload else { corrupt = "a record length of \(length)"; return }
                guard bytes.count - offset - headerBytes >= length else { corrupt = "a truncated record"; return }
                let body = UnsafeRawBufferPointer(rebasing: bytes[(offset + headerBytes)..<(offset + headerBytes + length)])
                guard CRC32.checksum(body) == crc else { corrupt = "a record failing its CRC"; return }
                let sequence = UInt64(littleEndian: body.loadUnaligned(as: UInt64.self))
                scan.lastSequence = sequence
                offset += headerBytes + length
                if let visit, !visit(sequence, Data(body[8...]), startOffset + offset) {
                    scan.stopped = true
                    return
                }
            }
        }
        // Reading (not repairing) runs beside the writer: a short tail there is a group being
        // written, past the durable end the reader stops at anyway.
        if let corrupt, repair {
            logger.warning("dropping the corrupt tail of a spool segment (a crash mid-append?)", metadata: [
                "segment": "\(url.lastPathComponent)", "offset": "\(startOffset + offset)", "bytes": "\(data.count - offset)", "found": "\(corrupt)",
            ])
            if truncate(url.path, off_t(startOffset + offset)) != 0 { throw LoginSpool.posixError("cutting \(url.path)") }
        }
        return scan
    }
}

private func closeFD(_ fd: Int32) {
    _ = close(fd)
}

/// CRC-32 (IEEE, as zlib), table-driven.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { index in
        var c = UInt32(index)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

/// The appending side: a thread that writes and fsyncs whatever callers queued since its
/// last turn (group commit), then resumes them. A thread, not a task: `fsync` blocks, and a
/// blocked thread of the cooperative pool would stall unrelated work.
final class SpoolWriter: @unchecked Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var waiters: [(sequence: UInt64, continuation: CheckedContinuation<UInt64, any Error>)] = []
        var nextSequence: UInt64
        /// Appends waiting for room: the buffer is full until the writer takes it.
        var parked: [(payload: Data, continuation: CheckedContinuation<UInt64, any Error>)] = []
        var stopped = false
        var failure: DirectoryError?
        /// The writer found nothing to do and waits on `condition`: only then does an append signal it.
        var writerWaits = false
    }

    /// Group commits start at most this often: under load the appends of this long share one
    /// write and fsync (about 1 ms here, and its CPU is most of the spool's), at the cost of
    /// at most this much latency; an append that finds the writer idle is committed at once.
    static let commitInterval: Duration = .milliseconds(2)

    private let state: LockedValue<State>
    private let condition = NSCondition()
    private let durable: Atomic<UInt64>
    private let activeFirst: Atomic<UInt64>
    private let directory: URL
    private let segmentBytes: Int
    private let maxPendingBytes: Int
    private let logger: Logger
    let appended: AsyncStream<Void>
    private let appendedContinuation: AsyncStream<Void>.Continuation
    private let finished = Atomic<Bool>(false)
    /// Group commits so far (one write and one fsync each).
    let commits = Atomic<Int>(0)

    init(directory: URL, nextSequence: UInt64, segmentBytes: Int, maxPendingBytes: Int, logger: Logger) throws {
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.maxPendingBytes = maxPendingBytes
        self.logger = logger
        state = LockedValue(State(nextSequence: nextSequence))
        durable = Atomic(nextSequence - 1)
        activeFirst = Atomic(nextSequence)
        (appended, appendedContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let fd = try Self.openSegment(directory, first: nextSequence)
        let thread = Thread { [self] in self.loop(fd: fd, first: nextSequence) }
        thread.name = "gwdir-spool"
        thread.start()
    }

    var durableSequence: UInt64 { durable.load(ordering: .acquiring) }
    var activeSegmentFirst: UInt64 { activeFirst.load(ordering: .acquiring) }

    func append(_ payload: Data) async throws -> UInt64 {
        try await withCheckedThrowingContinuation { continuation in
            let (refusal, writerWaits) = state.withLock { state -> (DirectoryError?, Bool) in
                if let failure = state.failure { return (failure, false) }
                if state.stopped { return (DirectoryError(.failed, "the login spool is closed"), false) }
                if !state.parked.isEmpty || state.buffer.count >= maxPendingBytes {
                    // Memory stays bounded; the writer queues it after its current turn, in order.
                    state.parked.append((payload, continuation))
                } else {
                    Self.queue(payload, continuation, into: &state)
                }
                return (nil, state.writerWaits)
            }
            if let refusal {
                continuation.resume(throwing: refusal)
                return
            }
            // A busy writer takes it on its next turn. A waiting one set `writerWaits` while
            // holding `condition`, which it releases only inside wait(), so this signal finds it.
            if writerWaits { signal() }
        }
    }

    private func signal() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    private static func queue(_ payload: Data, _ continuation: CheckedContinuation<UInt64, any Error>, into state: inout State) {
        let sequence = state.nextSequence
        state.nextSequence += 1
        SpoolSegment.encode(sequence: sequence, payload: payload, into: &state.buffer)
        state.waiters.append((sequence, continuation))
    }

    func stop() {
        state.withLock { $0.stopped = true }
        signal()
        while !finished.load(ordering: .acquiring) { usleep(1000) }
    }

    private static func openSegment(_ directory: URL, first: UInt64) throws -> Int32 {
        let path = directory.appendingPathComponent(LoginSpool.segmentName(first)).path
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LoginSpool.posixError("creating \(path)") }
        try LoginSpool.syncDirectory(directory)
        return fd
    }

    private func loop(fd initial: Int32, first: UInt64) {
        var fd = initial
        var written = 0
        defer {
            closeFD(fd)
            appendedContinuation.finish()
            finished.store(true, ordering: .releasing)
        }
        var lastTurn: ContinuousClock.Instant?
        while true {
            if let lastTurn {
                let wait = Self.commitInterval - (ContinuousClock.now - lastTurn)
                if wait > .zero { usleep(useconds_t(wait / .microseconds(1))) }
            }
            condition.lock()
            var batch: (buffer: [UInt8], waiters: [(sequence: UInt64, continuation: CheckedContinuation<UInt64, any Error>)], stopped: Bool)
            while true {
                let maxPendingBytes = self.maxPendingBytes
                batch = state.withLock { state in
                    // Waits (and is signalled) only when there is nothing to take.
                    state.writerWaits = state.waiters.isEmpty && !state.stopped
                    defer {
                        state.buffer.removeAll(keepingCapacity: true)
                        state.waiters.removeAll(keepingCapacity: true)
                        // The parked appends become the next turn's batch.
                        var moved = 0
                        while moved < state.parked.count, state.buffer.isEmpty || state.buffer.count < maxPendingBytes, !state.stopped {
                            Self.queue(state.parked[moved].payload, state.parked[moved].continuation, into: &state)
                            moved += 1
                        }
                        state.parked.removeFirst(moved)
                    }
                    return (state.buffer, state.waiters, state.stopped)
                }
                if !batch.waiters.isEmpty || batch.stopped { break }
                condition.wait()
            }
            condition.unlock()
            lastTurn = ContinuousClock.now
            if !batch.waiters.isEmpty {
                let result = Self.writeAll(fd, batch.buffer)
                switch result {
                case .success:
                    written += batch.buffer.count
                    commits.add(1, ordering: .relaxed)
                    durable.store(batch.waiters.last!.sequence, ordering: .releasing)
                    for waiter in batch.waiters { waiter.continuation.resume(returning: waiter.sequence) }
                    appendedContinuation.yield()
                case .failure(let error):
                    // The disk refused: nothing from here on is acknowledged.
                    logger.critical("the login spool cannot write", metadata: ["error": "\(error)"])
                    state.withLock { $0.failure = error }
                    for waiter in batch.waiters { waiter.continuation.resume(throwing: error) }
                }
            }
            if batch.stopped {
                // Callers that raced the stop are refused, not left waiting.
                let late = state.withLock { state -> [CheckedContinuation<UInt64, any Error>] in
                    defer {
                        state.waiters.removeAll()
                        state.parked.removeAll()
                    }
                    return state.waiters.map(\.continuation) + state.parked.map(\.continuation)
                }
                for waiter in late { waiter.resume(throwing: DirectoryError(.failed, "the login spool is closed")) }
                return
            }
            if written >= segmentBytes, let next = batch.waiters.last.map({ $0.sequence + 1 }) {
                do {
                    let newFD = try Self.openSegment(directory, first: next)
                    closeFD(fd)
                    fd = newFD
                    written = 0
                    activeFirst.store(next, ordering: .releasing)
                } catch {
                    logger.error("starting a new spool segment failed; appending to the current one", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Result<Void, DirectoryError> {
        let failure: DirectoryError? = bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return LoginSpool.posixError("appending to the login spool")
                }
                done += n
            }
            return fsync(fd) == 0 ? nil : LoginSpool.posixError("fsync of the login spool")
        }
        return failure.map { .failure($0) } ?? .success(())
    }
}

/// A login event as the spool stores it: a compact binary record (version 1), or JSON as
/// spools written before it hold (read, never written). The drainer decodes every event
/// once and the server encodes every report once: Foundation's JSON coders cost more than
/// the rest of the spool's work per event.
///
/// Version 1: `0x01`, the time (Double bits, u64 LE), a flags byte (success, unresolved, and
/// which optional strings follow), then the strings, each `u32 LE length · UTF-8`: account?,
/// login, type, client, ip?, country?, reason?.
struct SpooledEvent: Codable, Equatable {
    var time: Double
    var account: String?
    var login: String
    var type: String
    var client: String
    var ip: String?
    var country: String?
    var reason: String?
    var success: Bool
    /// ``LoginEvent/accountUnresolved``; absent in records written before it existed.
    var unresolved: Bool?

    init(_ event: LoginEvent) {
        time = event.time.timeIntervalSince1970
        account = event.accountDN?.description
        login = event.loginName
        type = event.type.rawValue
        client = event.client
        ip = event.ip?.description
        country = event.country
        reason = event.reason?.rawValue
        success = event.result == .success
        unresolved = event.accountUnresolved ? true : nil
    }

    private enum Flag {
        static let success: UInt8 = 1, unresolved: UInt8 = 2, account: UInt8 = 4, ip: UInt8 = 8, country: UInt8 = 16, reason: UInt8 = 32
    }

    /// The version 1 record.
    var payload: Data {
        var bytes: [UInt8] = [1]
        bytes.reserveCapacity(64 + login.utf8.count + (account?.utf8.count ?? 0))
        withUnsafeBytes(of: time.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        var flags: UInt8 = 0
        if success { flags |= Flag.success }
        if unresolved == true { flags |= Flag.unresolved }
        if account != nil { flags |= Flag.account }
        if ip != nil { flags |= Flag.ip }
        if country != nil { flags |= Flag.country }
        if reason != nil { flags |= Flag.reason }
        bytes.append(flags)
        func put(_ text: String) {
            withUnsafeBytes(of: UInt32(text.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: text.utf8)
        }
        account.map(put)
        put(login)
        put(type)
        put(client)
        ip.map(put)
        country.map(put)
        reason.map(put)
        return Data(bytes)
    }

    /// Either form; throws on a record that is neither.
    init(payload: Data) throws {
        guard payload.first == 1 else {
            do {
                self = try JSONDecoder().decode(SpooledEvent.self, from: payload)
                return
            } catch {
                throw DirectoryError(.failed, "an unreadable spooled event: \(error)")
            }
        }
        let bytes = [UInt8](payload)
        var offset = 1
        func malformed() -> DirectoryError { DirectoryError(.failed, "a malformed spooled event at byte \(offset)") }
        func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, bytes.count - offset >= count else { throw malformed() }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }
        func uint(_ count: Int) throws -> UInt64 {
            try take(count).reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        func string() throws -> String {
            let length = Int(try uint(4))
            guard let text = String(validating: try take(length), as: UTF8.self) else { throw malformed() }
            return text
        }
        time = Double(bitPattern: try uint(8))
        let flags = try take(1).first!
        success = flags & Flag.success != 0
        unresolved = flags & Flag.unresolved != 0 ? true : nil
        account = flags & Flag.account != 0 ? try string() : nil
        login = try string()
        type = try string()
        client = try string()
        ip = flags & Flag.ip != 0 ? try string() : nil
        country = flags & Flag.country != 0 ? try string() : nil
        reason = flags & Flag.reason != 0 ? try string() : nil
        guard offset == bytes.count else { throw malformed() }
    }

    var event: LoginEvent {
        get throws {
            guard let type = LoginType(rawValue: type) else { throw DirectoryError(.failed, "unknown login type \(type)") }
            let outcome: LoginOutcome
            if success {
                outcome = .success
            } else {
                guard let reason = reason.flatMap(LoginFailureReason.init(rawValue:)) else {
                    throw DirectoryError(.failed, "unknown failure reason \(reason ?? "nil")")
                }
                outcome = .failure(reason)
            }
            let accountDN: DistinguishedName?
            do {
                accountDN = try account.map { try DistinguishedName($0) }
            } catch {
                throw DirectoryError(.failed, "an unreadable account DN \(String(reflecting: account ?? "")) in a spooled event")
            }
            return LoginEvent(time: Date(timeIntervalSince1970: time), accountDN: accountDN, loginName: login, type: type,
                              client: client, ip: ip.flatMap(IPAddress.init), country: country, outcome: outcome,
                              accountUnresolved: unresolved ?? false)
        }
    }
}
