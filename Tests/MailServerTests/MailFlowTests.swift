import Directory
import Foundation
import LDAPClient
import Testing

// Issue 12, item 5: mail flow through the real Dovecot from docker/dovecot (LMTP with the global
// Sieve script, IMAP read-back with Python's imaplib) against the harness slapd.
// What Postfix hands to LMTP is simulated: after virtual_alias_maps an alias is delivered to its
// gwDeliverTo, which AliasService now writes as the alias address itself (FolderName), so the
// tests deliver to exactly that address. Postfix's own smtpd is not started here (see the README,
// "Alias folders": not done yet).
@Suite struct MailFlowTests {
    /// Adds an alias entry in the shape AliasService writes (gwDeliverTo from FolderName).
    private func addAlias(_ sample: SampleDirectory, owner uid: String, alias local: String, folder: String) async throws -> String {
        let root = sample.fixture.rootConnection()
        defer { root.close() }
        let address = try MailAddress(sample.address(local))
        let ownerDN = uid == "minjun" ? "uid=minjun,\(sample.koreanUnitDN)" : "uid=\(uid),\(sample.salesDN)"
        let dn = "mail=\(address),\(ownerDN)"
        _ = try? await root.delete(dn: dn.parsedDN)
        _ = try await root.add(dn: dn.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwMailAlias"]),
            LDAPAttribute("mail", address.description),
            LDAPAttribute("gwAliasFolder", try FolderName.validate(folder)),
            LDAPAttribute("gwDeliverTo", FolderName.deliveryAddress(alias: address)),
            LDAPAttribute("gwOwnerAddress", sample.address(uid)),
        ])
        return FolderName.deliveryAddress(alias: address)
    }

    /// Logs in over IMAP and returns every folder (decoded from modified UTF-7) with its message count.
    private func imapFolders(_ dovecot: DovecotServer, _ user: String, _ password: String) async throws -> [String: Int] {
        try await imapCount(port: dovecot.imapPort, user, password, subject: nil)
    }

    private func deliver(_ dovecot: DovecotServer, to recipients: [String], subject: String) async throws -> [String] {
        try await lmtpDeliver(port: dovecot.lmtpPort, from: "sender@example.net", to: recipients,
                        message: "From: sender@example.net\nSubject: \(subject)\n\nhello\n")
    }

    @Test func aliasFoldersKoreanAndDottedLandInTheirFolder() async throws {
        try await withDovecot { dovecot, sample async throws in
            let korean = try await addAlias(sample, owner: "minjun", alias: "sales-kr", folder: "영업부")
            let dotted = try await addAlias(sample, owner: "bob", alias: "first.last", folder: "first.last")
            let spaced = try await addAlias(sample, owner: "bob", alias: "team-b", folder: "Sales Team")
            #expect(korean == sample.address("sales-kr"))
            for (recipient, subject) in [(korean, "korean"), (dotted, "dotted"), (spaced, "spaced")] {
                let replies = try await deliver(dovecot, to: [recipient], subject: subject)
                #expect(replies.filter { $0.hasPrefix("250") }.count == 4, "\(recipient): \(replies)\n\(dovecot.logText)")
            }
            let minjun = try await imapFolders(dovecot, sample.address("minjun"), sample.password("minjun"))
            #expect(minjun["영업부"] == 1, "\(minjun)\n\(dovecot.logText)")
            #expect(minjun["INBOX"] == 0, "\(minjun)")
            let bob = try await imapFolders(dovecot, sample.address("bob"), sample.password("bob"))
            #expect(bob["first.last"] == 1, "\(bob)\n\(dovecot.logText)")
            #expect(bob["Sales Team"] == 1, "\(bob)")
            #expect(bob["INBOX"] == 0, "\(bob)")
            #expect(!dovecot.logText.contains("Character not allowed"), "\(dovecot.logText)")
        }
    }

    @Test func plusDetailIsNotAnOpenDoor() async throws {
        try await withDovecot { dovecot, sample async throws in
            let alice = sample.address("alice")
            let before = try dovecot.doveadm(["mailbox", "list", "-u", alice]).output
            for detail in ["random", "Sales", "evil.folder", "x-\(UUID().uuidString.prefix(6))"] {
                let replies = try await deliver(dovecot, to: [sample.address("alice+\(detail)")], subject: detail)
                #expect(replies.filter { $0.hasPrefix("250") }.count == 4, "\(detail): \(replies)")
            }
            let after = try dovecot.doveadm(["mailbox", "list", "-u", alice]).output
            #expect(before == after, "no folder may be created by +detail: \(before) -> \(after)")
            let folders = try await imapFolders(dovecot, alice, sample.password("alice"))
            #expect(folders["INBOX"] == 4, "\(folders)")
            #expect(folders.keys.allSatisfy { $0 == "INBOX" }, "\(folders)")
        }
    }

    @Test func aliasFollowsItsOwnersStatus() async throws {
        try await withDovecot { dovecot, sample async throws in
            // An alias of a disabled account is refused (userdb 2 decides with the owner's entry).
            let dead = try await addAlias(sample, owner: "dis", alias: "dis-alias", folder: "x")
            let replies = try await deliver(dovecot, to: [dead, sample.address("alice")], subject: "status")
            #expect(replies[3].hasPrefix("550"), "\(replies)")
            #expect(replies[4].hasPrefix("250"), "\(replies)")
            // A suspended owner still receives into the alias folder.
            let held = try await addAlias(sample, owner: "carol", alias: "carol-alias", folder: "보관")
            let ok = try await deliver(dovecot, to: [held], subject: "held")
            #expect(ok[3].hasPrefix("250"), "\(ok)")
            let status = try dovecot.doveadm(["mailbox", "status", "-u", sample.address("carol"), "messages", "보관"])
            #expect(status.stdout.contains("messages=1"), "\(status)\n\(dovecot.logText)")
            // The alias is not a login and not a mailbox outside LMTP.
            #expect(try dovecot.userFields(sample.address("carol-alias")) == nil)
            #expect(try !dovecot.login(sample.address("carol-alias"), sample.password("carol")))
        }
    }
}
