/// How a login arrived (spec §5). The raw value is the stable code stored in audit entries.
public enum LoginType: String, Sendable, Hashable, CaseIterable, Labelled {
    case pcBrowser = "pc"
    case pcMessenger = "pc_messenger"
    case mobileWeb = "mobile_web"
    case messengerApp = "messenger_app"
    case officeApp = "office_app"
    case messengerLink = "messenger_link"
    case imap = "imap"
    case pop3 = "pop3"
    case smtp = "smtp"

    /// Mail protocol logins repeat (clients poll) and are folded in the audit log.
    public var isMailProtocol: Bool {
        switch self {
        case .imap, .pop3, .smtp: true
        default: false
        }
    }

    public var englishLabel: String {
        switch self {
        case .pcBrowser: "PC"
        case .pcMessenger: "PC messenger"
        case .mobileWeb: "Mobile web"
        case .messengerApp: "Messenger app"
        case .officeApp: "Office app"
        case .messengerLink: "Messenger link"
        case .imap: "IMAP"
        case .pop3: "POP3"
        case .smtp: "SMTP"
        }
    }

    public var koreanLabel: String {
        switch self {
        case .pcBrowser: "PC"
        case .pcMessenger: "PC 메신저"
        case .mobileWeb: "모바일 웹"
        case .messengerApp: "메신저 앱"
        case .officeApp: "오피스 앱"
        case .messengerLink: "메신저 링크"
        case .imap: "IMAP"
        case .pop3: "POP3"
        case .smtp: "SMTP"
        }
    }
}

/// The mail protocols Dovecot and Postfix authenticate, a subset of ``LoginType``.
public enum MailProtocol: String, Sendable, Hashable, CaseIterable {
    case imap
    case pop3
    case smtp

    public var loginType: LoginType {
        switch self {
        case .imap: .imap
        case .pop3: .pop3
        case .smtp: .smtp
        }
    }
}

/// Clients that identify themselves explicitly (an API parameter) instead of being guessed
/// from the User-Agent; only these can be declared, so an HTTP caller cannot pose as IMAP.
public enum DeclaredClient: String, Sendable, Hashable, CaseIterable {
    case pcMessenger = "pc_messenger"
    case messengerApp = "messenger_app"
    case officeApp = "office_app"
    case messengerLink = "messenger_link"

    public var loginType: LoginType {
        switch self {
        case .pcMessenger: .pcMessenger
        case .messengerApp: .messengerApp
        case .officeApp: .officeApp
        case .messengerLink: .messengerLink
        }
    }
}
