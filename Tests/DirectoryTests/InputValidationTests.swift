import Directory
import Foundation
import Testing

/// The pure checks of security issue 11 ("client robustness"): names, folders, numbers,
/// audit times and the per-account limit on wrong OTP codes.
@Suite struct InputValidationTests {
    /// The one error every refusal is: `invalidArgument` (exit 2), one line, naming the field.
    static func refused(_ what: String, _ body: () throws -> Any) {
        do {
            let value = try body()
            Issue.record("accepted \(value) for \(what)")
        } catch let error as DirectoryError {
            #expect(error.code == .invalidArgument, "\(error)")
            #expect(!error.message.contains("\n"), "\(error.message)")
            #expect(error.message.contains(what), "\(error.message) should name \(what)")
            #expect(error.message.unicodeScalars.count < 300, "messages do not echo long input")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    // MARK: RDN names

    @Test(arguments: [
        "", " ", "\t\u{3000}", ".", "..", " .. ", "a,b", "a+b", "a\"b", "a\\b", "a<b", "a>b", "a;b", "a=b", "a/b", "a#b",
        "a\u{FFFD}b", "bad\u{FFFD}", "a\u{0}b", "a\u{7}b", "a\nb", "a\rb", "a\u{1B}[31mb", "a\u{7F}b", "a\u{85}b", "a\u{9B}b",
        "a\u{2028}b", "a\u{202E}b", "a\u{2066}b", "a\u{FEFF}b", "a\u{FFFF}b", "a\tb",
        String(repeating: "a", count: 65), String(repeating: "가", count: 65), "a" + String(repeating: "\u{301}", count: 64),
    ])
    func rdnNamesRefused(_ text: String) {
        Self.refused("unit name") { try EntryName.validate(text, what: "unit name") }
    }

    @Test func rdnNamesAccepted() throws {
        #expect(try EntryName.validate("sales", what: "unit name") == "sales")
        #expect(try EntryName.validate(" 영업부 ", what: "unit name") == "영업부")
        #expect(try EntryName.validate("...", what: "unit name") == "...")
        #expect(try EntryName.validate(".hidden", what: "unit name") == ".hidden")
        #expect(try EntryName.validate("a.b", what: "login id") == "a.b")
        #expect(try EntryName.validate(String(repeating: "가", count: 64), what: "login id").unicodeScalars.count == 64)
        #expect(try UnitPath("영업부/동부").components == ["영업부", "동부"])
        Self.refused("unit name") { try UnitPath("sales/../east") }
        Self.refused("unit name") { try UnitPath("./sales") }
    }

    // MARK: Display names

    @Test(arguments: [
        "", "   ", "\u{3000}", "Kim\u{FFFD}", "Kim\u{0}", "Kim\nPark", "Kim\u{1B}]0;x\u{7}", "Kim\u{7F}", "Kim\u{85}", "\u{202E}miK",
        String(repeating: "x", count: 129), String(repeating: "김", count: 10_000),
    ])
    func displayNamesRefused(_ text: String) {
        Self.refused("first name") { try NameText.validate(text, what: "first name") }
    }

    @Test func displayNamesAccepted() throws {
        #expect(try NameText.validate("  민준 ", what: "first name") == "민준")
        #expect(try NameText.validate("Acme 주식회사", what: "workspace name") == "Acme 주식회사")
        #expect(try NameText.validate("O'Brien-Smith, Jr.", what: "last name") == "O'Brien-Smith, Jr.")
        #expect(try NameText.validate("José", what: "first name") == "José")
        #expect(try NameText.validate("👩‍💻 Dev", what: "display name") == "👩‍💻 Dev")
        #expect(try NameText.validate(String(repeating: "x", count: 128), what: "first name").count == 128)
        #expect(try NameText.validate(nil as String?, what: "display name") == nil)
        Self.refused("display name") { try NameText.validate("" as String?, what: "display name") as Any }
        #expect(try NameText.validate("", what: "description", required: false) == "")
    }

    @Test func accountRequestsCheckEveryName() throws {
        let unit = try UnitPath("sales")
        let good = NewAccount(loginId: "minjun", workspace: "acme", unit: unit, firstName: " 민준", lastName: "김 ", mail: "m@acme.example", password: "pw")
        let checked = try good.validated()
        #expect(checked.firstName == "민준" && checked.lastName == "김" && checked.displayName == nil)
        var noFirst = good
        noFirst.firstName = ""
        Self.refused("first name") { try noFirst.validated() }
        var longLast = good
        longLast.lastName = String(repeating: "x", count: 10_000)
        Self.refused("last name") { try longLast.validated() }
        var badDisplay = good
        badDisplay.displayName = "a\u{FFFD}"
        Self.refused("display name") { try badDisplay.validated() }

        var changes = AccountService.Changes()
        changes.firstName = ""
        Self.refused("first name") { try changes.validated() }
        changes.firstName = "서연"
        #expect(try changes.validated().firstName == "서연")
        var workspace = WorkspaceService.Changes()
        workspace.displayName = "\u{7}"
        Self.refused("workspace name") { try workspace.validated() }
    }

    // MARK: Alias folders

    @Test(arguments: ["Sales-KR", "영업부", "영업부_2026", "Ventas.España", "見積", "a.b", "x", "first.last", "Sales Team", "영업 1팀"])
    func foldersAccepted(_ text: String) throws {
        #expect(try FolderName.validate(text) == text)
    }

    @Test func folderDeliveryAddresses() throws {
        let owner = try MailAddress("minjun@acme.example")
        // The alias stays the LMTP recipient; Dovecot maps it to the owner and the folder.
        #expect(FolderName.deliveryAddress(alias: owner) == "minjun@acme.example")
        #expect(FolderName.deliveryAddress(alias: try MailAddress("Sales-KR@acme.example")) == "sales-kr@acme.example")
    }

    @Test(arguments: [
        "", " ", ".", "..", ".hidden", "trailing.", "a..b", "a/b", "../inbox", "a  b", "a+b", "a&b", "a@b", "a\u{FFFD}", "a\u{0}", "a\nb", "a\u{7F}",
        "a\u{202E}", "a\"b", "a\\b", "a*b", "a%b", String(repeating: "영", count: 65),
    ])
    func foldersRefused(_ text: String) {
        Self.refused("folder") { try FolderName.validate(text) }
    }

    // MARK: Numbers

    @Test func counts() throws {
        #expect(try CountArgument.parse("10", option: "--limit", range: 1...1_000_000) == 10)
        #expect(try CountArgument.parse(" 60 ", option: "--days", range: 1...36_525) == 60)
        for bad in ["0", "-1", "-0000", "1000001", "99999999999999999999999", "ten", "", "1.5", "0x10", "1e3", "+"] {
            Self.refused("--limit") { try CountArgument.parse(bad, option: "--limit", range: 1...1_000_000) }
        }
        do {
            _ = try CountArgument.parse("-1", option: "--limit", range: 1...10)
        } catch let error as DirectoryError {
            #expect(error.message.contains("must not be negative"), "\(error.message)")
        }
    }

    @Test func quotas() throws {
        #expect(try Quota.parse("0") == 0)
        #expect(try Quota.parse("8191T") == 8191 << 40)
        for bad in ["-1", "-1G", "- 5M", "99999999999999999999", "9000000T", "1.5G", "", "G", "--format"] {
            Self.refused("quota") { try Quota.parse(bad) }
        }
        do {
            _ = try Quota.parse("-1")
        } catch let error as DirectoryError {
            #expect(error.message.hasPrefix("quota must not be negative"), "\(error.message)")
        }
    }

    // MARK: Audit times

    static let now = Date(timeIntervalSince1970: 1_795_000_000)

    @Test func auditTimesInRange() throws {
        #expect(try AuditTimeArgument.parse("20000d", as: .since, now: Self.now) == Self.now.addingTimeInterval(-20_000 * 86_400))
        #expect(try AuditTimeArgument.parse("1970-01-01", as: .since, now: Self.now) == Date(timeIntervalSince1970: 0))
        #expect(try AuditTimeArgument.parse("9999-12-31", as: .until, now: Self.now) == AuditTimeArgument.latest)
        #expect(try AuditTimeArgument.parse("0s", as: .until, now: Self.now) == Self.now)
    }

    @Test(arguments: [
        "750000d", "36526d", "5300w", "876601h", "99999999999999999999d", "1969-12-31", "0001-01-01", "19691231235959Z",
        "1969-12-31T23:59:59Z", "-5d",
    ])
    func auditTimesOutOfRange(_ text: String) {
        #expect(throws: DirectoryError.self, "\(text)") { try AuditTimeArgument.parse(text, as: .since, now: Self.now) }
        do { _ = try AuditTimeArgument.parse(text, as: .since, now: Self.now) } catch let error as DirectoryError {
            #expect(error.code == .invalidArgument)
        } catch { Issue.record("\(error)") }
    }

    // MARK: Wrong OTP codes per account

    @Test func otpFailureLimit() {
        let limit = OTPFailureLimit.standard
        let start = Self.now
        var state: IPFailureState?
        for index in 0..<4 {
            let (next, locked) = limit.record(wrongCodeAt: start.addingTimeInterval(Double(index) * 60), state: state)
            #expect(!locked)
            state = next
        }
        #expect(limit.refusal(state, at: start.addingTimeInterval(240)) == nil)
        let (fifth, locked) = limit.record(wrongCodeAt: start.addingTimeInterval(300), state: state)
        #expect(locked && fifth.failureCount == 5)
        // Locked for 15 minutes from the fifth wrong code, whatever code comes next.
        #expect(limit.refusal(fifth, at: start.addingTimeInterval(301)) == .loginBlocked)
        #expect(limit.refusal(fifth, at: start.addingTimeInterval(300 + 899)) == .loginBlocked)
        #expect(limit.refusal(fifth, at: start.addingTimeInterval(300 + 900)) == nil)
        // Four wrong codes, then the window passes: counting starts again.
        var slow: IPFailureState?
        for index in 0..<4 { slow = limit.record(wrongCodeAt: start.addingTimeInterval(Double(index)), state: slow).state }
        let (afterWindow, lockedLate) = limit.record(wrongCodeAt: start.addingTimeInterval(900), state: slow)
        #expect(!lockedLate && afterWindow.failureCount == 1)
        #expect(limit.refusal(nil, at: start) == nil)
    }

    @Test func otpFailureKeysAndWhatCounts() {
        let uuid = "0F8FAD5B-D9CB-469F-A165-70867728950E"
        #expect(OTPFailureLimit.key(accountUUID: uuid) == "otp.0f8fad5b-d9cb-469f-a165-70867728950e")
        #expect(OTPFailureLimit.key(accountUUID: "10.0.0.1") == nil)
        #expect(OTPFailureLimit.key(accountUUID: "uid=x,ou=y") == nil)
        #expect(OTPFailureLimit.isAccountKey("otp.0f8fad5b-d9cb-469f-a165-70867728950e"))
        #expect(!OTPFailureLimit.isAccountKey("10.0.0.1") && !OTPFailureLimit.isAccountKey("2001:db8::1"))
        #expect(IPAddress("otp.0f8fad5b-d9cb-469f-a165-70867728950e") == nil)
        #expect(OTPFailureLimit.countsAsWrongCode(.mismatch))
        #expect(OTPFailureLimit.countsAsWrongCode(.malformed))
        #expect(!OTPFailureLimit.countsAsWrongCode(.replayed(step: 1)))
        #expect(!OTPFailureLimit.countsAsWrongCode(.accepted(step: 1)))
    }
}
