import ArgumentParser
import Foundation
import LDAPClient
import LocalSlapd
import MailConfigTemplates

/// `gwdir mail-config render`: the Postfix and Dovecot configuration of a host, rendered from the
/// templates of `docker/postfix` and `docker/dovecot` (shipped as resources) with the directory's
/// settings, so an operator never fills placeholders by hand (README, "Mail servers on a host").
struct MailConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail-config",
        abstract: "Configuration files for Postfix and Dovecot on a host.",
        subcommands: [Render.self]
    )

    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render the Postfix and Dovecot configuration for this directory into a folder.",
            discussion: """
            Writes <out>/postfix (main.cf for a Postfix without one, main.cf.fragment for an \
            existing main.cf, master.cf.fragment, the ldap-*.cf tables, mode 0640) and \
            <out>/dovecot (dovecot.conf, the dovecot-ldap-*.conf.ext files, mode 0600, the global \
            Sieve script, local.d/10-gwdir-host.conf). The LDAP URI and base DN come from the \
            connection options (default: the local directory); the passwords of cn=postfix and \
            cn=dovecot from ./.gwdir/secrets or --postfix-password-file/--dovecot-password-file. \
            Nothing is written outside <out>: copy the files into /etc/postfix and /etc/dovecot \
            (README). --check runs postconf -n, postmap (a bind as cn=postfix) and doveconf -n \
            on the result when those tools are installed.
            """
        )

        @OptionGroup var connection: ConnectionOptions

        @Option(help: ArgumentHelp("Folder to write into (created; existing files are replaced).", valueName: "dir"))
        var out: String

        @Option(name: .customLong("ldap-uri"), help: ArgumentHelp(
            "LDAP URI(s) Postfix and Dovecot use, space- or comma-separated. (default: the directory's --uri, or the local directory's)",
            valueName: "uri"
        ))
        var ldapURI: String?

        @Option(name: .customLong("postfix-password-file"), help: ArgumentHelp("cn=postfix's password. (default: ./.gwdir/secrets/postfix.password)", valueName: "file"))
        var postfixPasswordFile: String?

        @Option(name: .customLong("dovecot-password-file"), help: ArgumentHelp("cn=dovecot's password. (default: ./.gwdir/secrets/dovecot.password)", valueName: "file"))
        var dovecotPasswordFile: String?

        @Option(help: ArgumentHelp("The mail server's fully qualified host name (Postfix myhostname). (default: this host's name)", valueName: "fqdn"))
        var hostname: String?

        @Option(name: .customLong("postfix-dir"), help: ArgumentHelp("Where the Postfix files will live (paths inside main.cf).", valueName: "dir"))
        var postfixDirectory = "/etc/postfix"

        @Option(name: .customLong("policy-url"), help: ArgumentHelp("Where Dovecot asks `gwdir serve` (auth policy).", valueName: "url"))
        var policyURL = "http://127.0.0.1:8380/dovecot/policy"

        @Option(name: .customLong("policy-key-file"), help: ArgumentHelp(
            "The policy key `gwdir serve` expects (default: ./.gwdir/secrets/policy.key); without one, no auth-policy.conf.ext is written.",
            valueName: "file"
        ))
        var policyKeyFile: String?

        @Option(name: .customLong("dovecot-dir"), help: ArgumentHelp("Where the Dovecot files will live (paths inside dovecot.conf).", valueName: "dir"))
        var dovecotDirectory = "/etc/dovecot"

        @Option(help: ArgumentHelp("Addresses Dovecot serves IMAP and POP3 on (Dovecot `listen`).", valueName: "addresses"))
        var listen = "*, ::"

        @Option(name: .customLong("dovecot-address"), help: ArgumentHelp(
            "Address of Dovecot's LMTP and SASL auth listeners, which Postfix connects to; they listen only there.",
            valueName: "ip"
        ))
        var dovecotAddress = "127.0.0.1"

        @Option(name: .customLong("imap-port")) var imapPort = 143
        @Option(name: .customLong("pop3-port")) var pop3Port = 110
        @Option(name: .customLong("lmtp-port")) var lmtpPort = 24
        @Option(name: .customLong("auth-port"), help: "Dovecot's SASL auth listener for Postfix.") var authPort = 12345

        @Option(name: .customLong("mail-root"), help: ArgumentHelp("Root of the mailboxes (<root>/<domain>/<local part>).", valueName: "dir"))
        var mailRoot = "/var/vmail"

        @Option(name: .customLong("vmail-uid"), help: "Owner of the mailboxes (uid of the virtual mail user).") var vmailUID = 5000
        @Option(name: .customLong("vmail-gid"), help: "Group of the mailboxes.") var vmailGID = 5000

        @Option(name: .customLong("log-path"), help: ArgumentHelp("Dovecot log_path: syslog or a file.", valueName: "path"))
        var logPath = "syslog"

        @Option(name: .customLong("set"), help: ArgumentHelp(
            "Value of any other template placeholder, NAME=VALUE (repeatable); a placeholder left without a value is an error naming it.",
            valueName: "name=value"
        ))
        var extra: [String] = []

        @Flag(help: "Check the result with postconf -n, postmap and doveconf -n (when installed).")
        var check = false

        func validate() throws {
            for (name, port) in [("imap", imapPort), ("pop3", pop3Port), ("lmtp", lmtpPort), ("auth", authPort)] where !(1...65535).contains(port) {
                throw ValidationError("--\(name)-port must be 1-65535")
            }
            for value in extra where !value.contains("=") { throw ValidationError("--set takes NAME=VALUE, not \(value)") }
            for (name, value) in [("--hostname", hostname ?? "x"), ("--listen", listen), ("--dovecot-address", dovecotAddress),
                                  ("--mail-root", mailRoot), ("--postfix-dir", postfixDirectory), ("--dovecot-dir", dovecotDirectory)]
            where value.isEmpty || value.contains(where: \.isNewline) {
                throw ValidationError("\(name) must be one non-empty line")
            }
        }

        func run() async throws {
            let target = try connection.resolve(.service)
            let base = try target.requireBase()
            let uris = try ldapURI.map(ConnectionOptions.parseURIs) ?? target.uris
            let secrets = target.local ?? LocalInstance.inWorkingDirectory()
            let postfixPassword = try servicePassword(.postfix, file: postfixPasswordFile, secrets: secrets)
            let dovecotPassword = try servicePassword(.dovecot, file: dovecotPasswordFile, secrets: secrets)

            var values: [String: String] = [
                "LDAP_URI": uris.joined(separator: " "),
                "BASE_DN": base,
                "POSTFIX_DN": ServiceAccount.postfix.dn(base: try DistinguishedName(base)).description,
                "POSTFIX_PW": postfixPassword,
                "DOVECOT_DN": ServiceAccount.dovecot.dn(base: try DistinguishedName(base)).description,
                "DOVECOT_PW": dovecotPassword,
                "MAIL_HOSTNAME": hostname ?? ProcessInfo.processInfo.hostName,
                "POSTFIX_CONF_DIR": postfixDirectory,
                "LMTP_ENDPOINT": "inet:\(dovecotAddress):\(lmtpPort)",
                "SASL_PATH": "inet:\(dovecotAddress):\(authPort)",
                "DOVECOT_CONF_DIR": dovecotDirectory,
                "BASE_DIR": "/run/dovecot",
                "STATE_DIR": "/var/lib/dovecot",
                "LOG_PATH": logPath,
                "LISTEN": listen,
                "IMAP_PORT": String(imapPort),
                "POP3_PORT": String(pop3Port),
                "LMTP_PORT": String(lmtpPort),
                "AUTH_PORT": String(authPort),
                "MAIL_ROOT": mailRoot,
                "VMAIL_UID": String(vmailUID),
                "VMAIL_GID": String(vmailGID),
                "INTERNAL_USER": "dovecot",
                "LOGIN_USER": "dovenull",
            ]
            // Dovecot's auth policy (`gwdir serve`): rendered only when the key is known, since
            // dovecot.conf includes it with !include_try.
            let keyFile = policyKeyFile.map { URL(fileURLWithPath: $0) } ?? secrets.policyKeyFile
            if FileManager.default.fileExists(atPath: keyFile.path) {
                values["POLICY_KEY"] = try String(contentsOf: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                values["POLICY_URL"] = policyURL
                var generator = SystemRandomNumberGenerator()
                values["POLICY_NONCE"] = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            }
            for pair in extra {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                values[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            for (name, value) in values where value.contains(where: \.isNewline) {
                throw CLIError(.usage, "the value of \(name) must not contain a line break")
            }

            let outDirectory = URL(fileURLWithPath: out)
            let written = try MailConfigWriter(out: outDirectory, values: values, address: dovecotAddress).write()
            for file in written { print(file.path) }
            if check {
                let problems = try MailConfigCheck(out: outDirectory, postfixDirectory: postfixDirectory, dovecotDirectory: dovecotDirectory).run()
                if !problems.isEmpty {
                    throw CLIError(.failure, "the rendered configuration did not pass --check: " + problems.joined(separator: "; "))
                }
            }
        }

        /// A service password without its trailing newline, from a file or `./.gwdir/secrets`.
        private func servicePassword(_ account: ServiceAccount, file: String?, secrets: LocalInstance) throws -> String {
            if let file { return try PasswordFile.read(file) }
            if let stored = try secrets.secret(account.secretName), !stored.isEmpty { return stored }
            throw CLIError(.usage, "no password for \(account.relativeName),<base>: run `gwdir init` here, or pass --\(account.rawValue)-password-file")
        }
    }
}

/// Renders every template into `<out>/postfix` and `<out>/dovecot` with the right modes.
struct MailConfigWriter {
    var out: URL
    var values: [String: String]
    /// Where Dovecot's LMTP and SASL auth listeners bind (Postfix connects there).
    var address: String

    func write() throws -> [URL] {
        let postfix = out.appendingPathComponent("postfix")
        let dovecot = out.appendingPathComponent("dovecot")
        for folder in [out, postfix, dovecot, dovecot.appendingPathComponent("local.d")] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        var written: [URL] = []
        func emit(_ url: URL, _ text: String, mode: mode_t) throws {
            try Self.writeFile(url, text, mode: mode)
            written.append(url)
        }
        func rendered(_ relativePath: String) throws -> String {
            do {
                return try MailConfigTemplates.render(MailConfigTemplates.template(relativePath), values)
            } catch let error as MailConfigTemplates.TemplateError {
                throw CLIError(.usage, "\(relativePath) needs a value for \(error.placeholder): pass --set \(error.placeholder.dropFirst(2).dropLast(2))=…")
            }
        }
        let header = "# Rendered by `gwdir mail-config render` from gwdir's docker/"

        // Postfix: main.cf = base + fragment (Debian's "No configuration" install has no main.cf);
        // the fragments alone for an existing main.cf / master.cf; the LDAP tables hold
        // cn=postfix's password: 0640 (group postfix once installed, README).
        let postfixFiles = try MailConfigTemplates.files(in: "postfix")
        let mainBase = try rendered("postfix/main.cf.base")
        let mainFragment = try rendered("postfix/main.cf.fragment")
        try emit(postfix.appendingPathComponent("main.cf"),
                 "\(header)postfix/main.cf.base + main.cf.fragment\n\(mainBase)\n\(mainFragment)", mode: 0o644)
        for name in postfixFiles where name != "main.cf.base" {
            let text = try rendered("postfix/\(name)")
            let secret = name.hasSuffix(".cf")
            try emit(postfix.appendingPathComponent(name), "\(header)postfix/\(name)\n\(text)", mode: secret ? 0o640 : 0o644)
        }

        // Dovecot: dovecot.conf replaces Debian's; the LDAP args files hold cn=dovecot's password (0600).
        for name in try MailConfigTemplates.files(in: "dovecot") where name != "auth-policy.conf.ext" || values["POLICY_KEY"] != nil {
            let text = try rendered("dovecot/\(name)")
            let secret = name.hasSuffix(".conf.ext")
            try emit(dovecot.appendingPathComponent(name), "\(header)dovecot/\(name)\n\(text)", mode: secret ? 0o600 : 0o644)
        }
        // Host-only: LMTP and the SASL listener for Postfix listen on --dovecot-address only
        // (dovecot.conf binds every listener to `listen`, which serves IMAP/POP3 to the network).
        try emit(dovecot.appendingPathComponent("local.d/10-gwdir-host.conf"), """
            \(header): LMTP and SASL auth for Postfix listen on \(address) only.
            service lmtp {
              inet_listener lmtp {
                address = \(address)
              }
            }
            service auth {
              inet_listener auth-postfix {
                address = \(address)
              }
            }

            """, mode: 0o644)
        return written
    }

    /// Creates or replaces a file with `mode` from the first byte (never briefly readable by
    /// others, whatever the umask), through a temporary file and a rename.
    static func writeFile(_ url: URL, _ text: String, mode: mode_t) throws {
        let temporary = url.path + ".tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CLIError(.failure, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let modeSet = fchmod(fd, mode)
        let closed = close(fd)
        guard written == bytes.count, modeSet == 0, closed == 0, rename(temporary, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CLIError(.failure, "cannot write \(url.path): \(reason)")
        }
    }
}

/// `--check`: Debian's own tools on the rendered files, each only when installed. The files name
/// their final folders (/etc/postfix, /etc/dovecot), so the tools run on a private copy in which
/// those paths point at the copy; Postfix gets Debian's master.cf plus master.cf.fragment.
struct MailConfigCheck {
    var out: URL
    var postfixDirectory: String
    var dovecotDirectory: String

    func run() throws -> [String] {
        var problems: [String] = []
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-mail-check-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let postfix = scratch.appendingPathComponent("postfix")
        let dovecot = scratch.appendingPathComponent("dovecot")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: scratch.path)
        try FileManager.default.copyItem(at: out.appendingPathComponent("postfix"), to: postfix)
        try FileManager.default.copyItem(at: out.appendingPathComponent("dovecot"), to: dovecot)
        try repoint(postfix.appendingPathComponent("main.cf"), from: postfixDirectory, to: postfix.path)
        try repoint(dovecot.appendingPathComponent("dovecot.conf"), from: dovecotDirectory, to: dovecot.path)
        let debianMaster = ["/usr/share/postfix/master.cf.dist", "/etc/postfix/master.cf"].first { FileManager.default.fileExists(atPath: $0) }
        let master = try (debianMaster.map { try String(contentsOfFile: $0, encoding: .utf8) } ?? "")
            + String(contentsOf: postfix.appendingPathComponent("master.cf.fragment"), encoding: .utf8)
        try master.write(to: postfix.appendingPathComponent("master.cf"), atomically: true, encoding: .utf8)

        if let postconf = Self.tool("postconf") {
            report("postconf -n", Self.run(postconf, ["-c", postfix.path, "-n"]), &problems)
            report("postconf -M", Self.run(postconf, ["-c", postfix.path, "-M"]), &problems)
        } else {
            print("check: postconf not installed, skipped")
        }
        if let postmap = Self.tool("postmap") {
            // A real lookup: exit 1 without output is "not found"; a failed bind or search is a
            // warning on stderr. So this checks the URI, cn=postfix's DN and password.
            let table = "ldap:\(postfix.path)/ldap-virtual-mailbox-domains.cf"
            let result = Self.run(postmap, ["-c", postfix.path, "-q", "gwdir-check.invalid", table])
            if result.status > 1 || result.output.contains("warning") || result.output.contains("fatal") {
                problems.append("postmap -q (bind as cn=postfix): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
            } else {
                print("check: postmap: bound as cn=postfix and searched: ok")
            }
        } else {
            print("check: postmap not installed, skipped")
        }
        if let doveconf = Self.tool("doveconf") {
            report("doveconf -n", Self.run(doveconf, ["-c", dovecot.appendingPathComponent("dovecot.conf").path, "-n"]), &problems)
        } else {
            print("check: doveconf not installed, skipped")
        }
        return problems
    }

    /// Replaces the final folder by the copy's in one file (whole path prefixes only).
    private func repoint(_ file: URL, from final: String, to copy: String) throws {
        let prefix = final.hasSuffix("/") ? String(final.dropLast()) : final
        let text = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: prefix + "/", with: copy + "/")
        try text.write(to: file, atomically: true, encoding: .utf8)
    }

    private func report(_ command: String, _ result: (status: Int32, output: String), _ problems: inout [String]) {
        let output = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        if result.status != 0 || output.contains("warning:") || output.contains("fatal:") || output.contains("Error:") {
            let lines = output.split(separator: "\n").filter { $0.contains("warning") || $0.contains("fatal") || $0.contains("rror") }
            problems.append("\(command): exit \(result.status) \(lines.joined(separator: " | "))")
        } else {
            print("check: \(command): ok")
        }
    }

    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        return folders.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a tool with stdout and stderr in one temporary file (no pipe can fill up).
    static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-check-\(UUID().uuidString)").path
        defer { unlink(log) }
        do {
            let pid = try ChildProcess.spawn(executable, arguments, output: .file(log))
            let status = ChildProcess.waitForExit(pid)
            return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        } catch {
            return (127, "\(executable): \(error)")
        }
    }
}
