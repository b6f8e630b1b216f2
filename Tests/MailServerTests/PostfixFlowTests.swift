import Directory
import Foundation
import LDAPClient
import LocalSlapd
import Testing

// Issue 12, item 5: mail through the real Postfix. A Postfix instance (`postfix -c <tmp>` as
// root) built from docker/postfix -- main.cf.base + main.cf.fragment, the LDAP tables, Debian's
// master.cf with master.cf.fragment's submission service -- with smtpd and submission on free
// 127.0.0.1 ports, SMTP AUTH through the harness Dovecot's auth listener and delivery over LMTP
// to the same Dovecot. Real clients: Python's smtplib and imaplib.

/// A real Postfix on 127.0.0.1 with its configuration, queue and data under a temp dir. Nothing
/// is written to /etc/postfix (every path is in the temp dir; `PostfixFlowTests` checks it) and
/// no service listens on port 25 or any non-loopback address.
final class PostfixServer: @unchecked Sendable {
    let directory: URL
    let configDirectory: URL
    let queueDirectory: URL
    let smtpPort: Int
    let submissionPort: Int

    var logText: String {
        (try? String(contentsOf: directory.appendingPathComponent("maillog"), encoding: .utf8)) ?? ""
    }

    static func start(_ sample: SampleDirectory, dovecot: DovecotServer) throws -> PostfixServer {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try startOnce(sample, dovecot: dovecot)
            } catch let error as DovecotServer.StartError where attempt < 3 && error.description.contains("Address already in use") {
                continue
            }
        }
    }

    private static func startOnce(_ sample: SampleDirectory, dovecot: DovecotServer) throws -> PostfixServer {
        let fileManager = FileManager.default
        let directory = try MailTemplates.temporaryDirectory("postfix-flow")
        // The postfix user must reach data/ and the queue below this directory.
        try fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let conf = directory.appendingPathComponent("conf")
        let queue = directory.appendingPathComponent("queue")
        let data = directory.appendingPathComponent("data")
        for folder in [conf, queue, data] { try fileManager.createDirectory(at: folder, withIntermediateDirectories: true) }
        try fileManager.setAttributes([.ownerAccountName: "postfix"], ofItemAtPath: data.path)

        for map in PostfixConfig.maps {
            try MailTemplates.render("postfix/\(map)", sample.ldapValues, to: conf.appendingPathComponent(map))
        }
        // main.cf as `gwdir mail-config render` writes it for a Postfix without one: base + fragment.
        let base = conf.appendingPathComponent("main.cf.base")
        let fragment = conf.appendingPathComponent("main.cf.fragment")
        try MailTemplates.render("postfix/main.cf.base", ["MAIL_HOSTNAME": "mx.gwdir.test"], to: base)
        try MailTemplates.render("postfix/main.cf.fragment", [
            "POSTFIX_CONF_DIR": conf.path,
            "LMTP_ENDPOINT": "inet:127.0.0.1:\(dovecot.lmtpPort)",
            "SASL_PATH": "inet:127.0.0.1:\(dovecot.authPort)",
        ], to: fragment)
        let mainCF = try String(contentsOf: base, encoding: .utf8) + "\n" + String(contentsOf: fragment, encoding: .utf8)
        try mainCF.write(to: conf.appendingPathComponent("main.cf"), atomically: true, encoding: .utf8)

        // master.cf: Debian's, with smtpd on a free loopback port instead of port 25, plus the
        // submission service of master.cf.fragment on another.
        let ports = try (0..<2).map { _ in try SlapdInstance.freeLoopbackPort() }
        let debianMaster = try String(contentsOfFile: "/usr/share/postfix/master.cf.dist", encoding: .utf8)
        var replaced = 0
        var master = debianMaster.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("smtp ") && line.contains(" inet ") {
                replaced += 1
                return "127.0.0.1:\(ports[0])" + line.dropFirst("smtp".count)
            }
            return String(line)
        }.joined(separator: "\n")
        guard replaced == 1 else { throw DovecotServer.StartError(description: "master.cf.dist: no single `smtp inet` line") }
        let submissionFile = directory.appendingPathComponent("master.cf.fragment")
        try MailTemplates.render("postfix/master.cf.fragment", [:], to: submissionFile)
        let submission = try String(contentsOf: submissionFile, encoding: .utf8)
        guard submission.contains("\nsubmission inet") else { throw DovecotServer.StartError(description: "master.cf.fragment: no submission service") }
        master += "\n" + submission.replacingOccurrences(of: "\nsubmission inet", with: "\n127.0.0.1:\(ports[1]) inet")
        try master.write(to: conf.appendingPathComponent("master.cf"), atomically: true, encoding: .utf8)

        let server = PostfixServer(directory: directory, configDirectory: conf, queueDirectory: queue, smtpPort: ports[0], submissionPort: ports[1])
        // Everything of this instance lives in the temp dir; no chroot, as in docker/.
        try server.postconf(["-e",
                             "queue_directory = \(queue.path)", "data_directory = \(data.path)",
                             "inet_interfaces = 127.0.0.1", "inet_protocols = ipv4",
                             "maillog_file = \(directory.appendingPathComponent("maillog").path)",
                             "maillog_file_prefixes = \(directory.path)"])
        try server.postconf(["-F", "*/*/chroot = n"])
        let start = try runTool("/usr/sbin/postfix", ["-c", conf.path, "start"])
        guard start.status == 0 else {
            server.stop()
            throw DovecotServer.StartError(description: "postfix start: \(start)\n\(server.logText)")
        }
        let deadline = Date().addingTimeInterval(20)
        while !(DovecotServer.accepts(port: ports[0]) && DovecotServer.accepts(port: ports[1])) {
            if Date() > deadline || server.logText.contains("fatal:") {
                let log = server.logText
                server.stop()
                throw DovecotServer.StartError(description: "postfix not ready: \(log)")
            }
            usleep(50_000)
        }
        return server
    }

    private init(directory: URL, configDirectory: URL, queueDirectory: URL, smtpPort: Int, submissionPort: Int) {
        self.directory = directory
        self.configDirectory = configDirectory
        self.queueDirectory = queueDirectory
        self.smtpPort = smtpPort
        self.submissionPort = submissionPort
    }

    @discardableResult
    func postconf(_ arguments: [String]) throws -> ToolResult {
        let result = try runTool("/usr/sbin/postconf", ["-c", configDirectory.path] + arguments)
        guard result.status == 0 else { throw DovecotServer.StartError(description: "postconf \(arguments): \(result)") }
        return result
    }

    /// `postfix stop`, then waits for the master to exit (SIGKILL after 10 s); removes the temp dir.
    func stop() {
        let pidFile = queueDirectory.appendingPathComponent("pid/master.pid")
        let pid = (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        _ = try? runTool("/usr/sbin/postfix", ["-c", configDirectory.path, "stop"])
        if let pid, pid > 1 {
            let deadline = Date().addingTimeInterval(10)
            while kill(pid, 0) == 0, Date() < deadline { usleep(20_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Files in a queue folder (recursively).
    private func queued(_ folder: String) -> Int {
        let enumerator = FileManager.default.enumerator(atPath: queueDirectory.appendingPathComponent(folder).path)
        var count = 0
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: queueDirectory.appendingPathComponent(folder).appendingPathComponent(name).path, isDirectory: &isDirectory),
               !isDirectory.boolValue { count += 1 }
        }
        return count
    }

    /// Waits until every accepted message has left the queue (delivered over LMTP); a deferred
    /// message or a timeout fails with the mail log.
    func waitForDelivery() throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if queued("deferred") > 0 { throw DovecotServer.StartError(description: "mail deferred:\n\(logText)") }
            if ["maildrop", "incoming", "active"].allSatisfy({ queued($0) == 0 }) { return }
            usleep(50_000)
        }
        throw DovecotServer.StartError(description: "mail still queued after 30 s:\n\(logText)")
    }
}

/// One SMTP session with Python's smtplib: optional AUTH, MAIL FROM, RCPT TO each, DATA when a
/// recipient was accepted. Every reply code is returned.
struct SMTPSession: Decodable {
    var ehlo: Int
    var auth: Int?
    var authError: String?
    var mail: [Reply]?
    var rcpt: [[Reply]]?
    var data: [Reply]?

    enum Reply: Decodable, CustomStringConvertible {
        case code(Int), text(String)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let code = try? container.decode(Int.self) { self = .code(code) } else { self = .text(try container.decode(String.self)) }
        }
        var description: String { switch self { case .code(let c): "\(c)"; case .text(let t): t } }
    }

    var mailCode: Int? { if case .code(let code) = mail?.first { code } else { nil } }
    var rcptCodes: [Int] { (rcpt ?? []).map { if case .code(let code) = $0.first { code } else { -1 } } }
    var dataCode: Int? { if case .code(let code) = data?.first { code } else { nil } }

    static let script = #"""
import smtplib, sys, json
a = json.loads(sys.argv[1])
out = {}
s = smtplib.SMTP('127.0.0.1', a['port'], timeout=30, source_address=(a['source'], 0))
out['ehlo'] = s.ehlo('client.gwdir.test')[0]
if 'user' in a:
    try:
        # One AUTH PLAIN per session (smtplib's login() would retry with LOGIN after a failure).
        s.user, s.password = a['user'], a['password']
        out['auth'] = s.auth('PLAIN', s.auth_plain)[0]
    except smtplib.SMTPAuthenticationError as e:
        out['auth'] = e.smtp_code; out['authError'] = e.smtp_error.decode(errors='replace')
        s.quit(); print(json.dumps(out)); sys.exit(0)
    except smtplib.SMTPException as e:
        out['auth'] = -1; out['authError'] = str(e)
        s.quit(); print(json.dumps(out)); sys.exit(0)
code, msg = s.mail(a['from'])
out['mail'] = [code, msg.decode(errors='replace')]
out['rcpt'] = []
for r in a['to']:
    code, msg = s.rcpt(r)
    out['rcpt'].append([code, msg.decode(errors='replace')])
if any(c == 250 for c, _ in out['rcpt']):
    body = 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nhello from smtplib\r\n' % (a['from'], ', '.join(a['to']), a['subject'])
    code, msg = s.data(body.encode())
    out['data'] = [code, msg.decode(errors='replace')]
else:
    s.rset()
s.quit()
print(json.dumps(out))
"""#

    /// `source`: the client's address in 127.0.0.0/8. Dovecot's auth penalty delays every further
    /// attempt from an IP that failed (up to 15 s), so each failing login gets an address of its own.
    static func run(port: Int, source: String = "127.0.0.1", login: (String, String)? = nil, from: String, to: [String],
                    subject: String = "test") async throws -> SMTPSession {
        var request: [String: Any] = ["port": port, "source": source, "from": from, "to": to, "subject": subject]
        if let login { request["user"] = login.0; request["password"] = login.1 }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
        // Its own thread: the SASL check may go through a policy server in this process.
        let run = try await onThreadOfItsOwn { try runTool("/usr/bin/python3", ["-c", script, json]) }
        guard run.status == 0 else { throw DovecotServer.StartError(description: "smtplib: \(run)") }
        return try JSONDecoder().decode(SMTPSession.self, from: Data(run.output.utf8))
    }
}

/// IMAP read-back with Python's imaplib: for every folder (names decoded from modified UTF-7),
/// how many messages carry `subject` (every message with nil).
func imapCount(port: Int, _ user: String, _ password: String, subject: String?) async throws -> [String: Int] {
    let script = #"""
import imaplib, base64, sys, json
def decode(name):
    out, i = '', 0
    while i < len(name):
        if name[i] == '&':
            j = name.index('-', i)
            if j == i + 1: out += '&'
            else:
                b = name[i+1:j].replace(',', '/')
                out += base64.b64decode(b + '=' * (-len(b) % 4)).decode('utf-16-be')
            i = j + 1
        else:
            out += name[i]; i += 1
    return out
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
result = {}
for line in m.list()[1]:
    raw = line.decode().rsplit(' "/" ', 1)[1].strip('"')
    m.select('"' + raw + '"', readonly=True)
    typ, data = m.search(None, 'SUBJECT', '"' + sys.argv[4] + '"') if len(sys.argv) > 4 else m.search(None, 'ALL')
    result[decode(raw)] = len(data[0].split())
m.logout()
print(json.dumps(result))
"""#
    let run = try await onThreadOfItsOwn { try runTool("/usr/bin/python3", ["-c", script, String(port), user, password] + (subject.map { [$0] } ?? [])) }
    guard run.status == 0, let folders = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Int] else {
        throw DovecotServer.StartError(description: "IMAP read-back for \(user) failed: \(run)")
    }
    return folders
}

/// name, size and modification time of everything directly in /etc/postfix.
private func etcPostfixSnapshot() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/etc/postfix")) ?? []
    return names.sorted().map { name in
        let attributes = try? FileManager.default.attributesOfItem(atPath: "/etc/postfix/\(name)")
        return "\(name) \(attributes?[.size] ?? "-") \((attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
    }
}

/// A fresh Dovecot and a Postfix delivering to it, both stopped however the body ends.
private func withPostfix(_ body: (PostfixServer, DovecotServer, SampleDirectory) async throws -> Void) async throws {
    let before = etcPostfixSnapshot()
    try await withDovecot { dovecot, sample in
        let postfix = try PostfixServer.start(sample, dovecot: dovecot)
        defer { postfix.stop() }
        // Only loopback listeners of this instance: never port 25, never another address.
        let services = try postfix.postconf(["-M"]).stdout.split(separator: "\n")
        let inet = services.filter { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first == "inet" }
        #expect(inet.count == 2, "\(services)")
        #expect(inet.allSatisfy { $0.hasPrefix("127.0.0.1:") && !$0.hasPrefix("127.0.0.1:25 ") }, "\(inet)")
        try await body(postfix, dovecot, sample)
    }
    #expect(etcPostfixSnapshot() == before, "the test instance must not touch /etc/postfix")
}

@Suite struct PostfixFlowTests {
    private func addAlias(_ sample: SampleDirectory, owner uid: String, alias local: String, folder: String) async throws -> String {
        let root = sample.fixture.rootConnection()
        defer { root.close() }
        let address = try MailAddress(sample.address(local))
        let dn = "mail=\(address),uid=\(uid),\(sample.salesDN)"
        _ = try? await root.delete(dn: dn.parsedDN)
        _ = try await root.add(dn: dn.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwMailAlias"]),
            LDAPAttribute("mail", address.description),
            LDAPAttribute("gwAliasFolder", try FolderName.validate(folder)),
            LDAPAttribute("gwDeliverTo", FolderName.deliveryAddress(alias: address)),
            LDAPAttribute("gwOwnerAddress", sample.address(uid)),
        ])
        return address.description
    }

    /// (a) alias -> owner's alias folder, (b) group -> every member, (c) unknown -> 5xx at RCPT.
    @Test func inboundAliasGroupAndUnknownRecipient() async throws {
        try await withPostfix { postfix, dovecot, sample in
            let alias = try await addAlias(sample, owner: "bob", alias: "pf-support", folder: "고객 지원.pf")
            let tag = UUID().uuidString.prefix(8)
            let toAlias = try await SMTPSession.run(port: postfix.smtpPort, from: "sender@example.net", to: [alias], subject: "alias-\(tag)")
            #expect(toAlias.rcptCodes == [250] && toAlias.dataCode == 250, "\(toAlias)\n\(postfix.logText)")
            let toGroup = try await SMTPSession.run(port: postfix.smtpPort, from: "sender@example.net", to: [sample.address("team")], subject: "group-\(tag)")
            #expect(toGroup.rcptCodes == [250] && toGroup.dataCode == 250, "\(toGroup)\n\(postfix.logText)")
            let unknown = try await SMTPSession.run(port: postfix.smtpPort, from: "sender@example.net",
                                              to: [sample.address("nobody-\(tag)"), sample.address("closed"), sample.address("dis")])
            #expect(unknown.rcptCodes.allSatisfy { (500..<600).contains($0) }, "\(unknown)")
            #expect(unknown.rcpt?.first?.last?.description.contains("User unknown") == true, "\(unknown)")
            #expect(unknown.dataCode == nil)
            try postfix.waitForDelivery()

            // (a) read back over IMAP: the alias folder, Korean with a space and a dot, holds it.
            let bob = try await imapCount(port: dovecot.imapPort, sample.address("bob"), sample.password("bob"), subject: "alias-\(tag)")
            #expect(bob["고객 지원.pf"] == 1, "\(bob)\n\(postfix.logText)\n\(dovecot.logText)")
            #expect(bob["INBOX"] == 0, "\(bob)")
            // (b) team = alice, bob, minjun and the nested group inner (dave).
            let members: [(String, String)] = [
                (sample.address("alice"), sample.password("alice")), (sample.address("bob"), sample.password("bob")),
                (sample.address("minjun"), sample.password("minjun")), (sample.address("dave"), sample.mailPassword("dave")),
            ]
            for (user, password) in members {
                let folders = try await imapCount(port: dovecot.imapPort, user, password, subject: "group-\(tag)")
                #expect(folders["INBOX"] == 1, "\(user): \(folders)\n\(postfix.logText)")
            }
        }
    }

    /// (d) another account's address refused after SMTP AUTH, (e) one's own alias allowed,
    /// (f) a wrong password fails; plus the passdb rules through Postfix SASL.
    @Test func submissionAuthAndSenderLoginRules() async throws {
        try await withPostfix { postfix, dovecot, sample in
            let port = postfix.submissionPort
            let alice = (sample.address("alice"), sample.password("alice"))
            let tag = UUID().uuidString.prefix(8)

            // (f) wrong password: 535, nothing sent.
            let wrong = try await SMTPSession.run(port: port, source: "127.0.0.21", login: (alice.0, "not-\(alice.1)"), from: alice.0, to: [sample.address("bob")])
            #expect(wrong.auth == 535, "\(wrong)\n\(postfix.logText)")
            // Postfix passed the client's address to Dovecot (the rip the auth penalty and the audit use).
            #expect(dovecot.logText.contains("127.0.0.21): Password mismatch"), "\(dovecot.logText)")
            #expect(wrong.mail == nil)
            // bob has no `smtp` in gwEnabledService; dave logs in with the mail-only password only.
            let bob = try await SMTPSession.run(port: port, source: "127.0.0.22", login: (sample.address("bob"), sample.password("bob")), from: sample.address("bob"), to: [alice.0])
            #expect(bob.auth == 535, "\(bob)")
            let daveAccount = try await SMTPSession.run(port: port, source: "127.0.0.23", login: (sample.address("dave"), sample.password("dave")), from: sample.address("dave"), to: [alice.0])
            #expect(daveAccount.auth == 535, "\(daveAccount)")
            // Without AUTH the submission port relays nothing, not even to a local mailbox.
            let anonymous = try await SMTPSession.run(port: port, from: alice.0, to: [sample.address("bob")])
            #expect(anonymous.rcptCodes.allSatisfy { (500..<600).contains($0) }, "\(anonymous)")

            // (d) alice may not send as bob (reject_sender_login_mismatch, smtpd_sender_login_maps).
            let spoof = try await SMTPSession.run(port: port, login: alice, from: sample.address("bob"), to: [sample.address("minjun")], subject: "spoof-\(tag)")
            #expect(spoof.auth == 235, "\(spoof)\n\(postfix.logText)")
            #expect(spoof.rcptCodes == [553], "\(spoof)")
            #expect(spoof.rcpt?.first?.last?.description.contains("not owned by user") == true, "\(spoof)")
            // ... nor as a group or a shared mailbox, which no login owns.
            for address in [sample.address("team"), sample.address("help")] {
                let session = try await SMTPSession.run(port: port, login: alice, from: address, to: [sample.address("minjun")])
                #expect(session.rcptCodes == [553], "\(address): \(session)")
            }
            // (e) her own alias (al@, gwOwnerAddress alice) and her primary address are allowed.
            let asAlias = try await SMTPSession.run(port: port, login: alice, from: sample.address("al"), to: [sample.address("minjun")], subject: "alias-from-\(tag)")
            #expect(asAlias.rcptCodes == [250] && asAlias.dataCode == 250, "\(asAlias)\n\(postfix.logText)")
            let asSelf = try await SMTPSession.run(port: port, login: alice, from: alice.0, to: [sample.address("minjun")], subject: "self-\(tag)")
            #expect(asSelf.rcptCodes == [250] && asSelf.dataCode == 250, "\(asSelf)")
            // dave with his mail-only password sends as himself.
            let dave = try await SMTPSession.run(port: port, login: (sample.address("dave"), sample.mailPassword("dave")), from: sample.address("dave"),
                                           to: [sample.address("minjun")], subject: "dave-\(tag)")
            #expect(dave.auth == 235 && dave.dataCode == 250, "\(dave)")
            try postfix.waitForDelivery()

            let minjun = (sample.address("minjun"), sample.password("minjun"))
            for subject in ["alias-from-\(tag)", "self-\(tag)", "dave-\(tag)"] {
                let folders = try await imapCount(port: dovecot.imapPort, minjun.0, minjun.1, subject: subject)
                #expect(folders["INBOX"] == 1, "\(subject): \(folders)\n\(postfix.logText)")
            }
            let spoofed = try await imapCount(port: dovecot.imapPort, minjun.0, minjun.1, subject: "spoof-\(tag)")
            #expect(spoofed.values.reduce(0, +) == 0, "\(spoofed)")
        }
    }
}
