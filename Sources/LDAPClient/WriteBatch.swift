import CLDAP
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A liblber socket-buffer layer that holds the requests written during one turn of the
/// connection thread and sends them with one write(2) at its end, as a SwiftNIO channel
/// flushes once per event-loop tick. libldap writes every request on its own: with hundreds
/// in flight that is a system call, a TCP segment and a loopback delivery each.
///
/// Only between ``begin()`` and ``flush()`` are writes held; outside (connecting, the
/// synchronous SASL exchange, unbind) they pass straight through, so nothing libldap waits
/// for can be stuck in the buffer. Confined to the connection thread like the handle.
///
/// The layer also passes on what the thread's own poll(2) learnt: until the next read, it
/// answers libldap's "is data ready?" with yes, so `ldap_result` reads at once instead of
/// polling the socket a second time.
final class WriteBatch {
    private var bytes: [UInt8] = []
    private var isBatching = false
    /// Set when the thread's poll reported the socket readable; cleared by the first read.
    private var isKnownReadable = false
    /// This layer's place in the handle's stack; set by liblber when the layer is pushed.
    fileprivate var descriptor: UnsafeMutablePointer<Sockbuf_IO_Desc>?

    /// Pushes a batch layer on top of the handle's socket buffer; nil when liblber refuses
    /// (requests are then written one by one, as without it).
    static func install(on ld: OpaquePointer) -> WriteBatch? {
        var sockbuf: OpaquePointer?
        guard ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sockbuf) == LDAP_OPT_SUCCESS, let sockbuf else { return nil }
        let batch = WriteBatch()
        // liblber owns a reference from here until the layer's remove callback.
        let context = Unmanaged.passRetained(batch).toOpaque()
        guard ber_sockbuf_add_io(sockbuf, batchLayer, LBER_SBIOD_LEVEL_APPLICATION, context) == 0 else {
            Unmanaged<WriteBatch>.fromOpaque(context).release()
            return nil
        }
        return batch
    }

    /// The thread's poll found the socket readable: the next read will not block.
    func markReadable() { isKnownReadable = true }

    fileprivate var isDataReady: Bool { isKnownReadable }

    fileprivate func willRead() { isKnownReadable = false }

    /// Holds writes from now until ``flush()``.
    func begin() { isBatching = true }

    /// Sends what was held and stops holding. False when the socket failed: libldap believes
    /// those requests sent, so the caller drops the connection and fails them.
    func flush() -> Bool {
        isBatching = false
        return writeHeld()
    }

    /// Runs `body` with writes going straight out, for libldap calls that wait for an answer.
    func passingThrough<T>(_ body: () throws -> T) rethrows -> T {
        let wasBatching = isBatching
        if wasBatching { _ = flush() }
        defer { isBatching = wasBatching }
        return try body()
    }

    fileprivate func write(_ buffer: UnsafeRawPointer, _ length: Int) -> Int {
        if isBatching {
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
            return length
        }
        guard writeHeld() else { return -1 }
        return writeNext(buffer, length)
    }

    /// Writes the held bytes to the layer below, all of them (its socket blocks, as libldap's does).
    private func writeHeld() -> Bool {
        guard !bytes.isEmpty else { return true }
        defer { bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20) }
        return bytes.withUnsafeBytes { held in
            var offset = 0
            while offset < held.count {
                let written = writeNext(held.baseAddress! + offset, held.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else if written < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                    waitUntilWritable()
                } else {
                    return false
                }
            }
            return true
        }
    }

    private func writeNext(_ buffer: UnsafeRawPointer, _ length: Int) -> Int {
        guard let descriptor, let next = descriptor.pointee.sbiod_next, let write = next.pointee.sbiod_io.pointee.sbi_write else {
            errno = EBADF
            return -1
        }
        return write(next, UnsafeMutableRawPointer(mutating: buffer), ber_len_t(length))
    }

    /// A non-blocking socket (TLS handshakes may leave one) that is full: wait for room.
    private func waitUntilWritable() {
        guard let descriptor else { return }
        var fd: ber_socket_t = -1
        _ = ber_sockbuf_ctrl(descriptor.pointee.sbiod_sb, LBER_SB_OPT_GET_FD, &fd)
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&poller, 1, 1000)
    }
}

private func batch(_ descriptor: UnsafeMutablePointer<Sockbuf_IO_Desc>?) -> WriteBatch? {
    guard let context = descriptor?.pointee.sbiod_pvt else { return nil }
    return Unmanaged<WriteBatch>.fromOpaque(context).takeUnretainedValue()
}

/// The layer's callbacks; reads and controls go to the layer below unchanged.
/// Written once, then only read by liblber.
nonisolated(unsafe) private let batchLayer: UnsafeMutablePointer<Sockbuf_IO> = {
    let layer = UnsafeMutablePointer<Sockbuf_IO>.allocate(capacity: 1)
    layer.initialize(to: Sockbuf_IO(
        sbi_setup: { descriptor, context in
            descriptor?.pointee.sbiod_pvt = context
            if let context { Unmanaged<WriteBatch>.fromOpaque(context).takeUnretainedValue().descriptor = descriptor }
            return 0
        },
        sbi_remove: { descriptor in
            guard let descriptor, let context = descriptor.pointee.sbiod_pvt else { return 0 }
            let owned = Unmanaged<WriteBatch>.fromOpaque(context)
            owned.takeUnretainedValue().descriptor = nil
            descriptor.pointee.sbiod_pvt = nil
            owned.release()
            return 0
        },
        sbi_ctrl: { descriptor, option, argument in
            if option == LBER_SB_OPT_DATA_READY, batch(descriptor)?.isDataReady == true { return 1 }
            guard let next = descriptor?.pointee.sbiod_next, let control = next.pointee.sbiod_io.pointee.sbi_ctrl else { return 0 }
            return control(next, option, argument)
        },
        sbi_read: { descriptor, buffer, length in
            batch(descriptor)?.willRead()
            guard let next = descriptor?.pointee.sbiod_next, let read = next.pointee.sbiod_io.pointee.sbi_read else { return -1 }
            return read(next, buffer, length)
        },
        sbi_write: { descriptor, buffer, length in
            guard let batch = batch(descriptor), let buffer else { return -1 }
            return ber_slen_t(batch.write(buffer, Int(length)))
        },
        sbi_close: { descriptor in
            // Unbind (or whatever else is held) goes out before the socket closes.
            _ = batch(descriptor)?.flush()
            return 0
        }
    ))
    return layer
}()
