/// One attribute of an entry. Values are bytes as the server sent them (LDAP values may hold
/// any octets, NUL included); the `strings` view decodes UTF-8 explicitly.
public struct LDAPAttribute: Sendable, Hashable {
    public var name: String
    public var values: [[UInt8]]

    public init(name: String, values: [[UInt8]]) {
        self.name = name
        self.values = values
    }

    public init(_ name: String, _ values: [String]) {
        self.init(name: name, values: values.map { Array($0.utf8) })
    }

    public init(_ name: String, _ value: String) {
        self.init(name, [value])
    }

    /// Values decoded as UTF-8; values that are not valid UTF-8 are left out (read `values` for those).
    public var strings: [String] {
        values.compactMap { String(validating: $0, as: UTF8.self) }
    }
}

/// An entry returned by a search or a pre/post-read control.
public struct LDAPEntry: Sendable, Hashable {
    public var dn: String
    public var attributes: [LDAPAttribute]

    public init(dn: String, attributes: [LDAPAttribute]) {
        self.dn = dn
        self.attributes = attributes
    }

    /// The values of an attribute; attribute descriptions compare case-insensitively (RFC 4512 §2.5).
    public subscript(name: String) -> [[UInt8]] {
        attribute(named: name)?.values ?? []
    }

    public func attribute(named name: String) -> LDAPAttribute? {
        attributes.first { $0.name.utf8.count == name.utf8.count && $0.name.lowercased() == name.lowercased() }
    }

    /// All values of `name` decoded as UTF-8.
    public func strings(_ name: String) -> [String] {
        attribute(named: name)?.strings ?? []
    }

    /// The first value of `name` decoded as UTF-8.
    public func string(_ name: String) -> String? {
        strings(name).first
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
    /// Deletes the given values, or the whole attribute when `values` is empty.
    public static func delete(_ name: String, _ values: [String] = []) -> Self { .init(.delete, LDAPAttribute(name, values)) }
    public static func increment(_ name: String, by amount: Int = 1) -> Self { .init(.increment, LDAPAttribute(name, [String(amount)])) }
}

/// How deep a search looks below its base.
public enum LDAPSearchScope: Int32, Sendable {
    case base = 0
    case oneLevel = 1
    case subtree = 2
    /// Everything below the base, not the base itself (subordinate subtree).
    case children = 3
}
