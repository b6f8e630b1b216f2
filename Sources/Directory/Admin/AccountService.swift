import Foundation
import LDAPClient

/// Accounts: add, show, edit, password, status, delete/restore (30 days), move and find.
public struct AccountService: Sendable {
    public let context: DirectoryContext
    /// How long a deleted account can be restored.
    public var restoreWindow: TimeInterval = 30 * 86_400

    public init(_ context: DirectoryContext) { self.context = context }

    // MARK: Add

    public func add(_ new: NewAccount) async throws -> Account {
        let new = try new.validated()
        let loginId = try EntryName.validate(new.loginId, what: "login id")
        let address = try MailAddress(new.mail)
        let workspace = try await WorkspaceService(context).show(new.workspace)
        try Self.requireDomain(address, of: workspace)
        let unitDN = try await UnitService(context).existingUnitDN(new.unit, workspace: new.workspace)
        guard !new.password.isEmpty else { throw DirectoryError(.invalidArgument, "the password must not be empty") }
        guard !new.firstName.isEmpty || !new.lastName.isEmpty else {
            throw DirectoryError(.invalidArgument, "an account needs a first or a last name")
        }
        if let existing = try await account(loginId: loginId, workspaceDN: workspace.dn) {
            throw DirectoryError(.alreadyExists, "login id \(loginId) is already used in workspace \(new.workspace) (\(existing.mail))")
        }
        try await requireUnused(address)
        let dn = try unitDN.child(type: "uid", value: loginId)
        let services = new.enabledServices.map { $0.map(\.rawValue) } ?? new.serviceType.defaultServices
        if !new.serviceType.hasMailbox, let mailService = services.first(where: { $0 != "web" }) {
            throw DirectoryError(.notAllowed, "a groupware-only account has no mailbox, so \(mailService) can not be enabled")
        }
        let displayName = new.displayName ?? NewAccount.defaultDisplayName(first: new.firstName, last: new.lastName)
        var attributes = [
            LDAPAttribute(AttributeName.objectClass, ["inetOrgPerson", ObjectClassName.account]),
            LDAPAttribute("uid", loginId),
            LDAPAttribute("mail", address.description),
            LDAPAttribute("cn", displayName),
            LDAPAttribute("sn", new.lastName.isEmpty ? new.firstName : new.lastName),
            LDAPAttribute("displayName", displayName),
            LDAPAttribute(AttributeName.accountStatus, AccountStatus.active.rawValue),
            LDAPAttribute(AttributeName.serviceType, new.serviceType.rawValue),
            LDAPAttribute(AttributeName.aliasCount, 0),
            LDAPAttribute(AttributeName.homeWorkspace, workspace.dn.description),
            LDAPAttribute(AttributeName.loginKey, Account.loginKey(workspace: workspace.id, loginId: loginId)),
            // Cleartext to slapd only: slapo-ppolicy hashes it on add.
            LDAPAttribute(AttributeName.userPassword, new.password),
        ]
        if !new.firstName.isEmpty { attributes.append(LDAPAttribute("givenName", new.firstName)) }
        if !services.isEmpty { attributes.append(LDAPAttribute(AttributeName.enabledService, services)) }
        if let quota = new.quota { attributes.append(LDAPAttribute(AttributeName.mailQuota, quota)) }
        do {
            try await context.ldap.add(dn: dn, attributes: attributes)
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            throw DirectoryError(.alreadyExists, "login id \(loginId) is already used in workspace \(new.workspace)", underlying: error)
        } catch let error as LDAPError where error.code == .constraintViolation {
            // slapo-unique refused either the address or the login key (<workspace>/<login id>).
            if try await account(loginId: loginId, workspaceDN: workspace.dn) != nil {
                throw DirectoryError(.alreadyExists, "login id \(loginId) is already used in workspace \(new.workspace)", underlying: error)
            }
            throw DirectoryError(.addressInUse, "address \(address) is already in use", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "adding account \(address)")
        }
        return try await show(address.description)
    }

    // MARK: Read

    /// The account whose primary address is `address`, with its aliases.
    public func show(_ address: String) async throws -> Account {
        var account = try await require(address)
        account.aliases = try await AliasService(context).list(ownerDN: account.dn)
        return account
    }

    /// The account, or a not-found error that says what the address is instead.
    public func require(_ address: String) async throws -> Account {
        let parsed = try MailAddress(address)
        if let account = try await account(mail: parsed) { return account }
        let owners = try await context.owners(of: parsed)
        if let owner = owners.first {
            if owner.hasObjectClass(ObjectClassName.mailAlias), let ownerAddress = try owner.distinguishedName.parent {
                let ownerMail = try await context.read(ownerAddress, attributes: ["mail"], doing: "reading \(parsed)")?.string("mail")
                throw DirectoryError(.notFound, "\(parsed) is an alias of \(ownerMail ?? ownerAddress.description), not an account")
            }
            if owner.hasObjectClass(ObjectClassName.mailGroup) { throw DirectoryError(.notFound, "\(parsed) is a group mail, not an account") }
            if owner.hasObjectClass(ObjectClassName.sharedMailbox) { throw DirectoryError(.notFound, "\(parsed) is a shared mailbox, not an account") }
        }
        throw DirectoryError(.notFound, "no account \(parsed)")
    }

    public func account(mail: MailAddress) async throws -> Account? {
        try await context.search(context.layout.workspaces, .subtree, Account.filter(mail: mail),
                                 attributes: Account.attributes, doing: "looking up \(mail)").first.map { try Account(entry: $0, layout: context.layout) }
    }

    func account(loginId: String, workspaceDN: DistinguishedName) async throws -> Account? {
        try await context.search(workspaceDN, .subtree, .and([.equal("objectClass", ObjectClassName.account), .equal("uid", loginId)]),
                                 attributes: Account.attributes, doing: "looking up login id \(loginId)").first.map { try Account(entry: $0, layout: context.layout) }
    }

    /// `user find`: by primary address, first name or last name, exact or prefix, in a unit
    /// (and its sub-units) or the whole workspace; indexed (eq, sub) searches, sorted by name.
    public func find(
        workspace: String, unit: UnitPath? = nil, field: AccountSearchField, value: String, prefix: Bool = false,
        includeDeleted: Bool = false
    ) async throws -> [Account] {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw DirectoryError(.invalidArgument, "the search value must not be empty") }
        let base: DistinguishedName
        if let unit {
            base = try await UnitService(context).existingUnitDN(unit, workspace: workspace)
        } else {
            base = try await WorkspaceService(context).show(workspace).dn
        }
        let value = field == .mail ? trimmed.lowercased() : trimmed
        var filters: [LDAPFilter] = [.equal("objectClass", ObjectClassName.account), prefix ? .prefix(field.attribute, value) : .equal(field.attribute, value)]
        if !includeDeleted { filters.append(.not(.equal("gwAccountStatus", AccountStatus.deleted.rawValue))) }
        let entries = try await context.search(base, .subtree, .and(filters), attributes: Account.attributes, doing: "finding accounts")
        return try entries.map { try Account(entry: $0, layout: context.layout) }.sorted(by: Self.order(field))
    }

    static func order(_ field: AccountSearchField) -> (Account, Account) -> Bool {
        { a, b in
            let key: (Account) -> [String] = {
                switch field {
                case .mail: [$0.mail]
                case .firstName: [$0.firstName, $0.lastName, $0.mail]
                case .lastName: [$0.lastName, $0.firstName, $0.mail]
                }
            }
            return key(a).lexicographicallyPrecedes(key(b))
        }
    }

    // MARK: Edit

    public struct Changes: Sendable {
        public var firstName: String?
        public var lastName: String?
        public var displayName: String?
        public var serviceType: ServiceType?
        public var quota: Int?
        public var enableServices: [EnabledService] = []
        public var disableServices: [EnabledService] = []
        public var addAllowedNetworks: [String] = []
        public var removeAllowedNetworks: [String] = []
        public var recoveryMail: String?
        public init() {}
    }

    public func edit(_ address: String, _ changes: Changes) async throws -> Account {
        let changes = try changes.validated()
        let account = try await require(address)
        var modifications: [LDAPModification] = []
        if let first = changes.firstName { modifications.append(first.isEmpty ? .delete("givenName") : .replace("givenName", [first])) }
        if let last = changes.lastName {
            guard !last.isEmpty else { throw DirectoryError(.invalidArgument, "the last name must not be empty") }
            modifications.append(.replace("sn", [last]))
        }
        if let name = changes.displayName {
            modifications.append(.replace("displayName", [name]))
            modifications.append(.replace("cn", [name]))
        }
        let serviceType = changes.serviceType ?? account.serviceType
        if let type = changes.serviceType {
            if !type.hasMailbox, account.aliasCount > 0 {
                throw DirectoryError(.notAllowed, "\(account.mail) has \(account.aliasCount) aliases; remove them before making it groupware-only")
            }
            modifications.append(.replace(AttributeName.serviceType, [type.rawValue]))
        }
        var services = Set(account.enabledServices)
        if changes.serviceType != nil, !serviceType.hasMailbox { services.subtract(["imap", "pop3", "smtp"]) }
        services.formUnion(changes.enableServices.map(\.rawValue))
        services.subtract(changes.disableServices.map(\.rawValue))
        if !serviceType.hasMailbox, let mailService = services.sorted().first(where: { $0 != "web" }) {
            throw DirectoryError(.notAllowed, "a groupware-only account has no mailbox, so \(mailService) can not be enabled")
        }
        if services != Set(account.enabledServices) { modifications.append(.replace(AttributeName.enabledService, services.sorted())) }
        if let quota = changes.quota { modifications.append(.replace(AttributeName.mailQuota, [String(quota)])) }
        let add = try changes.addAllowedNetworks.map(WorkspaceService.network).filter { !account.allowedNetworks.contains($0) }
        if !add.isEmpty { modifications.append(.add(AttributeName.allowedNetwork, add)) }
        let remove = try changes.removeAllowedNetworks.map(WorkspaceService.network)
        for network in remove where !account.allowedNetworks.contains(network) {
            throw DirectoryError(.notFound, "\(account.mail) has no allowed network \(network)")
        }
        if !remove.isEmpty { modifications.append(.delete(AttributeName.allowedNetwork, remove)) }
        if let recovery = changes.recoveryMail {
            modifications.append(recovery.isEmpty ? .delete(AttributeName.recoveryMail) : .replace(AttributeName.recoveryMail, [try MailAddress(recovery).description]))
        }
        guard !modifications.isEmpty else { return try await show(address) }
        try await modify(account, modifications, doing: "editing \(account.mail)")
        return try await show(address)
    }

    /// An admin sets a new password. The old one then reports `password_changed_by_admin`
    /// until the user logs in with the new one, and a lockout is cleared.
    public func setPassword(_ address: String, to password: String) async throws {
        guard !password.isEmpty else { throw DirectoryError(.invalidArgument, "the password must not be empty") }
        let account = try await require(address)
        try await AdminPasswordReset(context: context).reset(accountDN: account.dn, newPassword: password)
    }

    // MARK: Status

    public func suspend(_ address: String) async throws -> Account { try await setStatus(address, .suspended, from: [.active, .disabled]) }
    public func resume(_ address: String) async throws -> Account { try await setStatus(address, .active, from: [.suspended, .disabled]) }
    public func disable(_ address: String) async throws -> Account { try await setStatus(address, .disabled, from: [.active, .suspended]) }

    private func setStatus(_ address: String, _ status: AccountStatus, from allowed: Set<AccountStatus>) async throws -> Account {
        let account = try await require(address)
        guard account.statusVisible else {
            // Not readable for this identity: let slapd's ACLs answer the write.
            try await modify(account, [.replace(AttributeName.accountStatus, [status.rawValue])], doing: "changing the status of \(account.mail)")
            return try await show(address)
        }
        if account.status == status { return try await show(address) }
        guard allowed.contains(account.status) else {
            throw DirectoryError(.notAllowed, "\(account.mail) is \(account.status.rawValue)" + (account.status == .deleted ? "; restore it first" : ""))
        }
        // The assertion makes a concurrent status change fail instead of being overwritten.
        try await modify(account, [.replace(AttributeName.accountStatus, [status.rawValue])], asserting: .equal("gwAccountStatus", account.status.rawValue),
                         doing: "changing the status of \(account.mail)")
        return try await show(address)
    }

    /// Marks the account deleted: it can not log in or receive mail, keeps its addresses and is
    /// restorable for ``restoreWindow``; ``purgeDeleted()`` removes it after that.
    public func delete(_ address: String) async throws -> Account {
        let account = try await require(address)
        guard account.status != .deleted else { throw DirectoryError(.notAllowed, "\(account.mail) is already deleted") }
        try await modify(account, [
            .replace(AttributeName.accountStatus, [AccountStatus.deleted.rawValue]),
            .replace(AttributeName.deletedAt, [GeneralizedTime.format(context.now())]),
        ], asserting: .equal("gwAccountStatus", account.status.rawValue), doing: "deleting \(account.mail)")
        return try await show(address)
    }

    public func restore(_ address: String) async throws -> Account {
        let account = try await require(address)
        guard account.status == .deleted else { throw DirectoryError(.notAllowed, "\(account.mail) is not deleted (it is \(account.status.rawValue))") }
        if let deletedAt = account.deletedAt, context.now().timeIntervalSince(deletedAt) > restoreWindow {
            throw DirectoryError(.notAllowed, "\(account.mail) was deleted on \(Self.day(deletedAt)), more than \(Int(restoreWindow / 86_400)) days ago; it can not be restored")
        }
        try await modify(account, [.replace(AttributeName.accountStatus, [AccountStatus.active.rawValue]), .delete(AttributeName.deletedAt)],
                         asserting: .equal("gwAccountStatus", AccountStatus.deleted.rawValue), doing: "restoring \(account.mail)")
        return try await show(address)
    }

    /// Removes accounts deleted longer ago than the restore window, with their aliases and
    /// credentials. Returns their addresses.
    public func purgeDeleted() async throws -> [String] {
        let cutoff = GeneralizedTime.format(context.now().addingTimeInterval(-restoreWindow))
        let expired = try await context.search(context.layout.workspaces, .subtree, .and([
            .equal("objectClass", ObjectClassName.account), .equal("gwAccountStatus", AccountStatus.deleted.rawValue), .lessOrEqual("gwDeletedAt", cutoff),
        ]), attributes: ["mail"], doing: "finding expired deleted accounts")
        for entry in expired {
            try await ldapCall("purging \(entry.string("mail") ?? entry.dn)") { try await context.ldap.deleteSubtree(dn: entry.distinguishedName) }
        }
        return expired.compactMap { $0.string("mail") }.sorted()
    }

    // MARK: Move

    /// Moves the account to another unit of its workspace (a modify-DN: its aliases and mail-only
    /// credential move with it; group memberships follow through slapo-refint).
    public func move(_ address: String, to unit: UnitPath) async throws -> Account {
        let account = try await require(address)
        let target = try await UnitService(context).existingUnitDN(unit, workspace: account.workspace)
        let dn = account.dn
        if dn.parent?.normalizedForComparison == target.normalizedForComparison { return try await show(address) }
        do {
            try await context.ldap.move(dn, newSuperior: target)
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            throw DirectoryError(.alreadyExists, "unit \(unit) already has an account with login id \(account.loginId)", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "moving \(account.mail) to \(unit)")
        }
        return try await show(address)
    }

    // MARK: Helpers

    func modify(_ account: Account, _ modifications: [LDAPModification], asserting: LDAPFilter? = nil, doing: String) async throws {
        do {
            try await context.ldap.modify(dn: account.dn, modifications, controls: asserting.map { [.assertion($0)] } ?? [])
        } catch let error as LDAPError where error.code == .assertionFailed && account.statusVisible {
            throw DirectoryError(.alreadyExists, "\(doing): the account changed meanwhile; try again", underlying: error)
        } catch let error as LDAPError where error.code == .assertionFailed {
            throw DirectoryError(.permissionDenied, "\(doing): permission denied", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, doing)
        }
    }

    /// Refuses an address already used by any account, alias, group or shared mailbox (a clear
    /// message up front; slapo-unique makes the final add race free).
    func requireUnused(_ address: MailAddress) async throws {
        guard let owner = try await context.owners(of: address).first else { return }
        let kind = owner.hasObjectClass(ObjectClassName.mailAlias) ? "an alias" : owner.hasObjectClass(ObjectClassName.mailGroup) ? "a group mail"
            : owner.hasObjectClass(ObjectClassName.sharedMailbox) ? "a shared mailbox" : "an account"
        throw DirectoryError(.addressInUse, "address \(address) is already used by \(kind) (\(owner.dn))")
    }

    static func requireDomain(_ address: MailAddress, of workspace: Workspace) throws {
        guard workspace.domains.contains(address.domain) else {
            throw DirectoryError(.notAllowed, "\(address.domain) is not a domain of workspace \(workspace.id) (\(workspace.domains.joined(separator: ", ")))")
        }
    }

    static func day(_ date: Date) -> String { String(GeneralizedTime.format(date).prefix(8)) }
}
