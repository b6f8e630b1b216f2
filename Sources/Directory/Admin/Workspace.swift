import Foundation
import LDAPClient

/// A company's workspace: `o=<id>,ou=workspaces,<base>`.
public struct Workspace: Sendable, Hashable {
    public var id: String
    public var dn: DistinguishedName
    public var displayName: String
    public var domains: [String]
    /// `key=value` settings (`gwPolicy`), e.g. `otp=required`.
    public var policies: [String]
    public var allowedNetworks: [String]
    public var description: String?

    init(entry: LDAPEntry) throws {
        id = entry.string("o") ?? ""
        dn = try entry.distinguishedName
        displayName = entry.string("displayName") ?? id
        domains = entry.strings(AttributeName.mailDomain).sorted()
        policies = entry.strings(AttributeName.policy).sorted()
        allowedNetworks = entry.strings(AttributeName.allowedNetwork)
        description = entry.string("description")
    }

    static let attributes = [AttributeName.objectClass, "o", "displayName", AttributeName.mailDomain, AttributeName.policy, AttributeName.allowedNetwork, "description"]
}

/// Adds, shows, lists and edits workspaces. Creating one takes a super admin (or the service).
public struct WorkspaceService: Sendable {
    public let context: DirectoryContext
    public init(_ context: DirectoryContext) { self.context = context }

    public func add(id: String, displayName: String, domains: [String]) async throws -> Workspace {
        let displayName = try NameText.validate(displayName, what: "workspace name")
        let dn = try context.layout.workspace(id)
        let domains = try domains.map(MailDomain.normalize)
        guard !domains.isEmpty else { throw DirectoryError(.invalidArgument, "a workspace needs at least one --domain") }
        for domain in domains {
            if let other = try await workspace(servingDomain: domain) {
                throw DirectoryError(.addressInUse, "domain \(domain) already belongs to workspace \(other.id)")
            }
        }
        do {
            try await context.ldap.add(dn: dn, attributes: [
                LDAPAttribute(AttributeName.objectClass, [ObjectClassName.workspace]),
                LDAPAttribute("o", dn.rdn?.value ?? id),
                LDAPAttribute("displayName", displayName),
                LDAPAttribute(AttributeName.mailDomain, domains),
            ])
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            throw DirectoryError(.alreadyExists, "workspace \(id) already exists", underlying: error)
        } catch let error as LDAPError where error.code == .constraintViolation {
            throw DirectoryError(.addressInUse, "a domain of \(domains.joined(separator: ", ")) already belongs to another workspace", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "adding workspace \(id)")
        }
        return try await show(id)
    }

    public func show(_ id: String) async throws -> Workspace {
        let dn = try context.layout.workspace(id)
        guard let entry = try await context.read(dn, attributes: Workspace.attributes, doing: "reading workspace \(id)"),
              entry.hasObjectClass(ObjectClassName.workspace)
        else { throw DirectoryError(.notFound, "no workspace \(id)") }
        return try Workspace(entry: entry)
    }

    public func list() async throws -> [Workspace] {
        try await context.search(context.layout.workspaces, .oneLevel, .equal("objectClass", ObjectClassName.workspace),
                                 attributes: Workspace.attributes, doing: "listing workspaces")
            .map { try Workspace(entry: $0) }.sorted { $0.id < $1.id }
    }

    public struct Changes: Sendable {
        public var displayName: String?
        public var addDomains: [String] = []
        public var removeDomains: [String] = []
        /// `key=value`; a new value replaces the key's old one. `key=` removes the key.
        public var setPolicies: [String] = []
        public var addAllowedNetworks: [String] = []
        public var removeAllowedNetworks: [String] = []
        public init() {}
    }

    public func edit(_ id: String, _ changes: Changes) async throws -> Workspace {
        let changes = try changes.validated()
        let current = try await show(id)
        var modifications: [LDAPModification] = []
        if let name = changes.displayName { modifications.append(.replace("displayName", [name])) }
        let add = try changes.addDomains.map(MailDomain.normalize).filter { !current.domains.contains($0) }
        let remove = try changes.removeDomains.map(MailDomain.normalize)
        for domain in remove where !current.domains.contains(domain) {
            throw DirectoryError(.notFound, "workspace \(id) has no domain \(domain)")
        }
        if !add.isEmpty { modifications.append(.add(AttributeName.mailDomain, add)) }
        if !remove.isEmpty {
            guard current.domains.count + add.count > remove.count else {
                throw DirectoryError(.notAllowed, "workspace \(id) must keep at least one domain")
            }
            modifications.append(.delete(AttributeName.mailDomain, remove))
        }
        if !changes.setPolicies.isEmpty {
            var policies = Dictionary(current.policies.compactMap(Self.policyPair), uniquingKeysWith: { $1 })
            for text in changes.setPolicies {
                guard let (key, value) = Self.policyPair(text) else {
                    throw DirectoryError(.invalidArgument, "policy \"\(text)\" is not key=value")
                }
                policies[key] = value.isEmpty ? nil : value
            }
            modifications.append(.replace(AttributeName.policy, policies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }))
        }
        let networksToAdd = try changes.addAllowedNetworks.map(Self.network).filter { !current.allowedNetworks.contains($0) }
        if !networksToAdd.isEmpty { modifications.append(.add(AttributeName.allowedNetwork, networksToAdd)) }
        let networksToRemove = try changes.removeAllowedNetworks.map(Self.network)
        if !networksToRemove.isEmpty { modifications.append(.delete(AttributeName.allowedNetwork, networksToRemove)) }
        guard !modifications.isEmpty else { return current }
        do {
            try await context.ldap.modify(dn: try context.layout.workspace(id), modifications)
        } catch let error as LDAPError where error.code == .constraintViolation {
            throw DirectoryError(.addressInUse, "domain \(add.joined(separator: ", ")) already belongs to another workspace", underlying: error)
        } catch let error as LDAPError where error.code == .noSuchAttribute {
            throw DirectoryError(.notFound, "workspace \(id) has no allowed network \(networksToRemove.joined(separator: ", "))", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "editing workspace \(id)")
        }
        return try await show(id)
    }

    /// The workspace whose `gwMailDomain` is `domain`, if any.
    public func workspace(servingDomain domain: String) async throws -> Workspace? {
        try await context.search(context.layout.workspaces, .oneLevel,
                                 .and([.equal("objectClass", ObjectClassName.workspace), .equal("gwMailDomain", domain)]),
                                 attributes: Workspace.attributes, doing: "looking up domain \(domain)").first.map { try Workspace(entry: $0) }
    }

    static func policyPair(_ text: String) -> (String, String)? {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { return nil }
        return (String(text[..<equals]).trimmingCharacters(in: .whitespaces), String(text[text.index(after: equals)...]).trimmingCharacters(in: .whitespaces))
    }

    static func network(_ text: String) throws -> String {
        guard let network = IPNetwork(text) else { throw DirectoryError(.invalidArgument, "\"\(text)\" is not a network such as 10.0.0.0/8 or 2001:db8::/32") }
        return network.description
    }
}
