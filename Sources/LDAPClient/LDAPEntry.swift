/// One attribute of an entry. Values are bytes as the server sent them (LDAP values may hold
/// any octets, NUL included); the `strings` view decodes UTF-8 explicitly.
public struct LDAPAttribute: Sendable, Hashable {
    public var name: String
    /// Values as the caller gave them: text stays a String until it is copied into the
    /// request's C memory, so a one-value text attribute costs no allocation of its own.
    private var storage: Values

    private enum Values: Sendable {
        case one(String)
        case text([String])
        case bytes([[UInt8]])
    }

    public init(name: String, values: [[UInt8]]) {
        self.name = name
        self.storage = .bytes(values)
    }

    public init(_ name: String, _ values: [String]) {
        self.name = name
        self.storage = .text(values)
    }

    public init(_ name: String, _ value: String) {
        self.name = name
        self.storage = .one(value)
    }

    public var values: [[UInt8]] {
        get {
            switch storage {
            case .one(let string): [Array(string.utf8)]
            case .text(let strings): strings.map { Array($0.utf8) }
            case .bytes(let values): values
            }
        }
        set { storage = .bytes(newValue) }
    }

    /// Values decoded as UTF-8; values that are not valid UTF-8 are left out (read `values` for those).
    public var strings: [String] {
        switch storage {
        case .one(let string): [string]
        case .text(let strings): strings
        case .bytes(let values): values.compactMap { String(validating: $0, as: UTF8.self) }
        }
    }

    var valueCount: Int {
        switch storage {
        case .one: 1
        case .text(let strings): strings.count
        case .bytes(let values): values.count
        }
    }

    /// Calls `body` with each value's bytes, without copying them into arrays first.
    func forEachValue(_ body: (UnsafeRawBufferPointer) -> Void) {
        switch storage {
        case .one(var string):
            string.withUTF8 { body(UnsafeRawBufferPointer($0)) }
        case .text(let strings):
            for var string in strings { string.withUTF8 { body(UnsafeRawBufferPointer($0)) } }
        case .bytes(let values):
            for value in values { value.withUnsafeBytes(body) }
        }
    }

    public static func == (lhs: LDAPAttribute, rhs: LDAPAttribute) -> Bool {
        lhs.name == rhs.name && lhs.values == rhs.values
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(values)
    }
}

/// An entry returned by a search or a pre/post-read control.
public struct LDAPEntry: Sendable, Hashable {
    public var dn: String
    /// Every value in one buffer, with the names and value bounds beside it: decoding a search
    /// entry costs a handful of allocations instead of one per value. `attributes` is built on
    /// demand; the lookups below read the buffer directly.
    private var storage: Storage

    public init(dn: String, attributes: [LDAPAttribute]) {
        self.dn = dn
        var builder = Storage.Builder()
        for attribute in attributes {
            builder.beginAttribute(attribute.name)
            attribute.forEachValue { builder.appendValue($0) }
        }
        self.storage = builder.storage
    }

    init(dn: String, storage: Storage) {
        self.dn = dn
        self.storage = storage
    }

    /// ``dn`` parsed. A DN that does not parse is a decoding error: it must never fall back to
    /// the root DSE, which a write would then target.
    public var distinguishedName: DistinguishedName {
        get throws(LDAPError) {
            do {
                return try DistinguishedName(dn)
            } catch {
                throw LDAPError(code: .decodingError, message: "unparsable entry DN: \(error)", operation: .decode, dn: dn)
            }
        }
    }

    public var attributes: [LDAPAttribute] {
        get { storage.names.indices.map { LDAPAttribute(name: storage.names[$0], values: storage.values(of: $0)) } }
        set { self = LDAPEntry(dn: dn, attributes: newValue) }
    }

    /// The values of an attribute; attribute descriptions compare case-insensitively (RFC 4512 §2.5).
    public subscript(name: String) -> [[UInt8]] {
        index(of: name).map { storage.values(of: $0) } ?? []
    }

    public func attribute(named name: String) -> LDAPAttribute? {
        index(of: name).map { LDAPAttribute(name: storage.names[$0], values: storage.values(of: $0)) }
    }

    /// All values of `name` decoded as UTF-8 (values that are not valid UTF-8 are left out).
    public func strings(_ name: String) -> [String] {
        guard let attribute = index(of: name) else { return [] }
        return storage.valueRanges(of: attribute).compactMap { String(validating: storage.bytes[$0], as: UTF8.self) }
    }

    /// The first value of `name` decoded as UTF-8.
    public func string(_ name: String) -> String? {
        strings(name).first
    }

    private func index(of name: String) -> Int? {
        let wanted = name.utf8.count
        return storage.names.firstIndex { $0.utf8.count == wanted && $0.lowercased() == name.lowercased() }
    }

    struct Storage: Sendable, Hashable {
        var bytes: [UInt8] = []
        var names: [String] = []
        /// Attribute i owns `valueEnds[firstValue[i] ..< firstValue[i + 1]]`.
        var firstValue: [Int] = [0]
        /// Where each value ends in `bytes`; it starts where the previous one ended.
        var valueEnds: [Int] = []

        func valueRanges(of attribute: Int) -> [Range<Int>] {
            (firstValue[attribute]..<firstValue[attribute + 1]).map { value in
                (value == 0 ? 0 : valueEnds[value - 1])..<valueEnds[value]
            }
        }

        func values(of attribute: Int) -> [[UInt8]] {
            valueRanges(of: attribute).map { Array(bytes[$0]) }
        }

        /// Appends attributes and values in wire order.
        struct Builder {
            private(set) var storage = Storage()

            init() {
                storage.bytes.reserveCapacity(512)
                storage.names.reserveCapacity(16)
                storage.firstValue.reserveCapacity(17)
                storage.valueEnds.reserveCapacity(24)
            }

            mutating func beginAttribute(_ name: String) {
                storage.names.append(name)
                storage.firstValue.append(storage.valueEnds.count)
            }

            /// Adds a value to the attribute begun last.
            mutating func appendValue(_ value: UnsafeRawBufferPointer) {
                storage.bytes.append(contentsOf: value)
                storage.valueEnds.append(storage.bytes.count)
                storage.firstValue[storage.firstValue.count - 1] = storage.valueEnds.count
            }
        }
    }
}

/// A change inside a modify request.
public struct LDAPModification: Sendable, Hashable {
    public enum Operation: Int32, Sendable {
        case add = 0
        case delete = 1
        case replace = 2
        /// RFC 4525: adds the (single) value to an integer attribute atomically.
        case increment = 3
    }

    public var operation: Operation
    public var attribute: LDAPAttribute

    public init(_ operation: Operation, _ attribute: LDAPAttribute) {
        self.operation = operation
        self.attribute = attribute
    }

    public static func add(_ name: String, _ values: [String]) -> Self { .init(.add, LDAPAttribute(name, values)) }
    public static func replace(_ name: String, _ values: [String]) -> Self { .init(.replace, LDAPAttribute(name, values)) }
    public static func replace(_ name: String, _ value: String) -> Self { .init(.replace, LDAPAttribute(name, value)) }
    /// Deletes the given values, or the whole attribute when `values` is empty.
    public static func delete(_ name: String, _ values: [String] = []) -> Self { .init(.delete, LDAPAttribute(name, values)) }
    public static func increment(_ name: String, by amount: Int = 1) -> Self { .init(.increment, LDAPAttribute(name, String(amount))) }
}

/// How deep a search looks below its base.
public enum LDAPSearchScope: Int32, Sendable {
    case base = 0
    case oneLevel = 1
    case subtree = 2
    /// Everything below the base, not the base itself (subordinate subtree).
    case children = 3
}
