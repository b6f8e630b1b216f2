import Foundation
import LDAPClient
import Logging

/// A sub-account alias: `mail=<alias>,<owner dn>`, delivered into a folder of the owner's mailbox.
public struct Alias: Sendable, Hashable {
    public var dn: DistinguishedName
    public var address: String
    public var folder: String
    /// What Postfix rewrites the alias to: the alias address itself (``FolderName/deliveryAddress(alias:)``).
    public var deliverTo: String
    public var owner: String

    init(dn: DistinguishedName, address: String, folder: String, deliverTo: String, owner: String) {
        self.dn = dn
        self.address = address
        self.folder = folder
        self.deliverTo = deliverTo
        self.owner = owner
    }

    init(entry: LDAPEntry) throws {
        dn = try entry.distinguishedName
        address = entry.string("mail") ?? ""
        folder = entry.string(AttributeName.aliasFolder) ?? ""
        deliverTo = entry.string(AttributeName.deliverTo) ?? ""
        owner = entry.string(AttributeName.ownerAddress) ?? ""
    }

    static let attributes = ["mail", AttributeName.aliasFolder, AttributeName.deliverTo, AttributeName.ownerAddress]
}

/// Adds, lists and removes sub-account aliases. At most ``maximumPerAccount`` per account,
/// race free: the owner's `gwAliasCount` is incremented under the assertion
/// `(gwAliasCount<=4)` before the alias entry is added, so of any number of concurrent adds
/// exactly the ones that fit succeed. Address uniqueness is slapo-unique's (also race free).
public struct AliasService: Sendable {
    public static let maximumPerAccount = 5
    public let context: DirectoryContext
    /// Where a slot that could not be given back is reported (see ``add(owner:alias:folder:)``).
    public var logger: Logger
    /// How a failed add gives its slot back.
    var compensation = Compensation.standard

    public init(_ context: DirectoryContext, logger: Logger = DirectoryLogging.admin) {
        self.context = context
        self.logger = logger
    }

    public func add(owner ownerAddress: String, alias aliasAddress: String, folder: String? = nil) async throws -> Alias {
        let owner = try await requireOwner(ownerAddress)
        let address = try MailAddress(aliasAddress)
        let workspace = try await WorkspaceService(context).show(owner.workspace)
        try AccountService.requireDomain(address, of: workspace)
        let folder = try Self.validateFolder(folder ?? address.localPart)
        try await AccountService(context).requireUnused(address)
        let ownerDN = owner.dn
        let ownerMail = try MailAddress(owner.mail)

        let alias = Alias(dn: try ownerDN.child(type: "mail", value: address.description), address: address.description,
                          folder: folder, deliverTo: FolderName.deliveryAddress(alias: address), owner: ownerMail.description)
        try await reserveSlot(owner: owner, ownerDN: ownerDN)
        do {
            _ = try await context.ldap.add(dn: alias.dn, attributes: [
                LDAPAttribute(AttributeName.objectClass, [ObjectClassName.mailAlias]),
                LDAPAttribute("mail", alias.address),
                LDAPAttribute(AttributeName.aliasFolder, alias.folder),
                LDAPAttribute(AttributeName.deliverTo, alias.deliverTo),
                LDAPAttribute(AttributeName.ownerAddress, alias.owner),
            ], controls: [])
        } catch {
            // Give the slot back; the alias does not exist.
            let unreleased = await releaseSlot(of: owner.mail) {
                do {
                    try await context.ldap.modify(dn: ownerDN, [.increment(AttributeName.aliasCount, by: -1)])
                } catch let error as LDAPError where error.code == .noSuchObject {
                    return  // the account is gone, and its counter with it
                }
            }
            let note = unreleased.map { Self.unreleasedNote($0, owner: owner.mail) } ?? ""
            switch error {
            case let error as LDAPError where error.code == .constraintViolation || error.code == .entryAlreadyExists:
                throw DirectoryError(.addressInUse, "address \(address) is already in use" + note, underlying: error)
            case let error as LDAPError:
                var failure = DirectoryError.ldap(error, "adding alias \(address) to \(owner.mail)")
                failure.message += note
                throw failure
            default:
                if unreleased != nil { throw DirectoryError(.failed, "adding alias \(address) to \(owner.mail): \(error)" + note) }
                throw error
            }
        }
        return alias
    }

    public func list(owner ownerAddress: String) async throws -> [Alias] {
        let owner = try await requireOwner(ownerAddress, forAdding: false)
        return try await list(ownerDN: owner.dn)
    }

    func list(ownerDN: DistinguishedName) async throws -> [Alias] {
        try await context.search(ownerDN, .oneLevel, .equal("objectClass", ObjectClassName.mailAlias), attributes: Alias.attributes, doing: "listing aliases")
            .map(Alias.init).sorted { $0.address < $1.address }
    }

    /// Removes the alias. Mail already filed in its folder stays there (moving it to the inbox
    /// is a mail-store action for `doveadm`, outside the directory).
    public func remove(owner ownerAddress: String, alias aliasAddress: String) async throws {
        let owner = try await requireOwner(ownerAddress, forAdding: false)
        let address = try MailAddress(aliasAddress)
        let ownerDN = owner.dn
        let aliasDN = try ownerDN.child(type: "mail", value: address.description)
        do {
            try await context.ldap.delete(dn: aliasDN)
        } catch let error as LDAPError where error.code == .noSuchObject {
            throw DirectoryError(.notFound, "\(owner.mail) has no alias \(address)", underlying: error)
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "removing alias \(address)")
        }
        do {
            _ = try await ldapCall("updating the alias count of \(owner.mail)") {
                try await context.ldap.modify(dn: ownerDN, [.increment(AttributeName.aliasCount, by: -1)], controls: [.assertion(.greaterOrEqual("gwAliasCount", "1"))])
            }
        } catch var error as DirectoryError {
            // The alias is gone but its slot is still taken.
            logger.error("an alias was removed but gwAliasCount not decremented; run `gwdir check --repair`", metadata: [
                "account": "\(owner.mail)", "alias": "\(address)", "error": "\(error)",
            ])
            error.message += " (alias \(address) is removed; run `gwdir check --repair` to recount)"
            throw error
        }
    }

    /// Runs `undo`, the decrement that gives back the slot of an add that failed, with
    /// ``compensation``'s retries. If it still fails the counter stays one too high (the account
    /// can take one alias fewer) until `gwdir check --repair` recounts it: that is logged as an
    /// error naming the account, and the error returned for the caller's message.
    func releaseSlot(of owner: String, undo: () async throws -> Void) async -> (any Error)? {
        guard let failure = await compensation.run(undo) else { return nil }
        logger.error("giving back an alias slot failed: gwAliasCount is one too high; run `gwdir check --repair`", metadata: [
            "account": "\(owner)", "attempts": "\(failure.attempts)", "error": "\(failure.error)",
        ])
        return failure.error
    }

    /// What a failed add's message gains when its slot could not be given back.
    static func unreleasedNote(_ error: any Error, owner: String) -> String {
        "; giving back its alias slot failed too (\(error)), so the gwAliasCount of \(owner) is one too high: run `gwdir check --repair`"
    }

    /// Takes one of the owner's five alias slots, or fails with `limitReached`.
    private func reserveSlot(owner: Account, ownerDN: DistinguishedName) async throws {
        for attempt in 0..<2 {
            do {
                try await context.ldap.modify(dn: ownerDN, [.increment(AttributeName.aliasCount, by: 1)],
                                              controls: [.assertion(.lessOrEqual("gwAliasCount", String(Self.maximumPerAccount - 1)))])
                return
            } catch let error as LDAPError where error.code == .assertionFailed || error.code == .noSuchAttribute {
                let current = try await context.read(ownerDN, attributes: [AttributeName.aliasCount], doing: "reading \(owner.mail)")
                if current?.integer(AttributeName.aliasCount) != nil {
                    throw DirectoryError(.limitReached, "\(owner.mail) already has \(Self.maximumPerAccount) aliases, the most an account can have", underlying: error)
                }
                // No count visible: either this identity may not read it (slapd refuses the
                // write below), or the account was written without one (imported): start it
                // at its real count, once.
                guard attempt == 0 else { throw DirectoryError(.permissionDenied, "adding an alias to \(owner.mail): permission denied", underlying: error) }
                let existing = try await list(ownerDN: ownerDN).count
                do {
                    try await context.ldap.modify(dn: ownerDN, [.add(AttributeName.aliasCount, [String(existing)])])
                } catch let error as LDAPError where error.code == .attributeOrValueExists || error.code == .constraintViolation {
                    throw DirectoryError(.permissionDenied, "adding an alias to \(owner.mail): permission denied", underlying: error)
                } catch let error as LDAPError {
                    throw DirectoryError.ldap(error, "adding an alias to \(owner.mail)")
                }
            } catch let error as LDAPError {
                throw DirectoryError.ldap(error, "adding an alias to \(owner.mail)")
            }
        }
    }

    private func requireOwner(_ address: String, forAdding: Bool = true) async throws -> Account {
        let parsed = try MailAddress(address)
        guard let owner = try await AccountService(context).account(mail: parsed) else {
            let kind = try await context.owners(of: parsed).first
            if kind?.hasObjectClass(ObjectClassName.mailGroup) == true {
                throw DirectoryError(.notAllowed, "\(parsed) is a group mail; aliases belong to accounts only")
            }
            if kind?.hasObjectClass(ObjectClassName.sharedMailbox) == true {
                throw DirectoryError(.notAllowed, "\(parsed) is a shared mailbox; aliases belong to accounts only")
            }
            if kind?.hasObjectClass(ObjectClassName.mailAlias) == true {
                throw DirectoryError(.notAllowed, "\(parsed) is itself an alias; aliases belong to accounts only")
            }
            throw DirectoryError(.notFound, "no account \(parsed)")
        }
        if forAdding {
            guard owner.serviceType.hasMailbox else {
                throw DirectoryError(.notAllowed, "\(owner.mail) is a groupware-only account without a mailbox; it can not have aliases")
            }
            guard owner.status != .deleted else { throw DirectoryError(.notAllowed, "\(owner.mail) is deleted") }
        }
        return owner
    }

    /// ``FolderName`` says what a folder name may hold.
    static func validateFolder(_ text: String) throws -> String { try FolderName.validate(text) }
}
