import CLDAP
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns the C memory of one outgoing request. libldap encodes a request into BER before the
/// `ldap_*_ext` call returns, so everything here may be freed right after that call.
///
/// A bump allocator: a request's strings, bervals and `LDAPMod` arrays (five small blocks per
/// attribute value otherwise) are carved from a few chunks, so a 13-attribute add costs one
/// or two `malloc`s instead of seventy.
final class CArena {
    private static let chunkSize = 4096
    private var chunks: [UnsafeMutableRawPointer] = []
    private var next: UnsafeMutableRawPointer?
    private var end: UnsafeMutableRawPointer?
    private var libldapAllocations: [UnsafeMutableRawPointer] = []

    deinit {
        for chunk in chunks { free(chunk) }
        for pointer in libldapAllocations { ber_memfree(pointer) }
    }

    /// Frees what the last request used, keeping the first chunk for the next one.
    func reset() {
        for pointer in libldapAllocations { ber_memfree(pointer) }
        libldapAllocations.removeAll(keepingCapacity: true)
        guard let first = chunks.first else { return }
        for chunk in chunks.dropFirst() { free(chunk) }
        chunks.removeSubrange(1...)
        next = first
        end = first + Self.chunkSize
    }

    /// `size` bytes aligned to `alignment` (a power of two), valid until the arena goes.
    private func raw(_ size: Int, alignment: Int) -> UnsafeMutableRawPointer {
        if let next, let end {
            let aligned = next.alignedUp(toMultipleOf: alignment)
            if aligned + size <= end {
                self.next = aligned + size
                return aligned
            }
        }
        let capacity = max(Self.chunkSize, size + alignment)
        let chunk = malloc(capacity)!
        chunks.append(chunk)
        let aligned = chunk.alignedUp(toMultipleOf: alignment)
        next = aligned + size
        end = chunk + capacity
        return aligned
    }

    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            let pointer = raw(utf8.count + 1, alignment: 1).bindMemory(to: CChar.self, capacity: utf8.count + 1)
            if let base = utf8.baseAddress { memcpy(pointer, base, utf8.count) }
            pointer[utf8.count] = 0
            return pointer
        }
    }

    func cString(_ string: String?) -> UnsafeMutablePointer<CChar>? {
        string.map { cString($0) }
    }

    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        raw(MemoryLayout<T>.stride * max(count, 1), alignment: MemoryLayout<T>.alignment).bindMemory(to: T.self, capacity: count)
    }

    /// A berval over a copy of `bytes`; the copy is NUL-terminated for the few APIs that peek.
    func berval(_ bytes: [UInt8]) -> CLDAP.berval {
        bytes.withUnsafeBytes { berval($0) }
    }

    func berval(_ bytes: UnsafeRawBufferPointer) -> CLDAP.berval {
        let data = allocate(CChar.self, count: bytes.count + 1)
        if let base = bytes.baseAddress { memcpy(data, base, bytes.count) }
        data[bytes.count] = 0
        return CLDAP.berval(bv_len: ber_len_t(bytes.count), bv_val: data)
    }

    func bervalPointer(_ bytes: [UInt8]) -> UnsafeMutablePointer<CLDAP.berval> {
        let pointer = allocate(CLDAP.berval.self, count: 1)
        pointer.initialize(to: berval(bytes))
        return pointer
    }

    /// A NULL-terminated `char **`, or nil for an empty list.
    func cStringArray(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        if strings.isEmpty { return nil }
        let array = allocate(UnsafeMutablePointer<CChar>?.self, count: strings.count + 1)
        for (index, string) in strings.enumerated() { array[index] = cString(string) }
        array[strings.count] = nil
        return array
    }

    /// Memory that libldap allocated for us (encoded control values) and we must free with ber_memfree.
    func adoptLibldapAllocation(_ pointer: UnsafeMutableRawPointer?) {
        if let pointer { libldapAllocations.append(pointer) }
    }

    /// A NULL-terminated `LDAPMod **` with byte values (LDAP_MOD_BVALUES).
    func modifications(_ modifications: [LDAPModification]) -> UnsafeMutablePointer<UnsafeMutablePointer<LDAPMod>?> {
        let array = allocate(UnsafeMutablePointer<LDAPMod>?.self, count: modifications.count + 1)
        for (index, modification) in modifications.enumerated() {
            array[index] = mod(modification.operation, modification.attribute)
        }
        array[modifications.count] = nil
        return array
    }

    /// An add request's attributes as a NULL-terminated `LDAPMod **`.
    func modifications(adding attributes: [LDAPAttribute]) -> UnsafeMutablePointer<UnsafeMutablePointer<LDAPMod>?> {
        let array = allocate(UnsafeMutablePointer<LDAPMod>?.self, count: attributes.count + 1)
        for (index, attribute) in attributes.enumerated() { array[index] = mod(.add, attribute) }
        array[attributes.count] = nil
        return array
    }

    private func mod(_ operation: LDAPModification.Operation, _ attribute: LDAPAttribute) -> UnsafeMutablePointer<LDAPMod> {
        let mod = allocate(LDAPMod.self, count: 1)
        mod.initialize(to: LDAPMod())
        mod.pointee.mod_op = operation.rawValue | LDAP_MOD_BVALUES
        mod.pointee.mod_type = cString(attribute.name)
        let count = attribute.valueCount
        if count == 0 {
            mod.pointee.mod_vals.modv_bvals = nil
        } else {
            let bvals = allocate(UnsafeMutablePointer<CLDAP.berval>?.self, count: count + 1)
            var valueIndex = 0
            attribute.forEachValue { value in
                let pointer = allocate(CLDAP.berval.self, count: 1)
                pointer.initialize(to: berval(value))
                bvals[valueIndex] = pointer
                valueIndex += 1
            }
            bvals[count] = nil
            mod.pointee.mod_vals.modv_bvals = bvals
        }
        return mod
    }
}

extension CLDAP.berval {
    /// The value's bytes, read by length: LDAP values may contain NUL.
    var bytes: [UInt8] {
        guard let base = bv_val, bv_len > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: base, count: Int(bv_len)))
    }

    /// UTF-8 text read by length (DNs and attribute descriptions).
    var string: String {
        guard let base = bv_val, bv_len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: base, count: Int(bv_len)), as: UTF8.self)
    }
}
