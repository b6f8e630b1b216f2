/// The two languages labels are written in (spec §5: English and Korean).
///
/// Derived from POSIX locale strings rather than Foundation's `Locale` so the CLI shows the
/// language the operator's shell asks for, identically on Linux and macOS.
public enum DisplayLanguage: String, Sendable, Hashable, CaseIterable {
    case english = "en"
    case korean = "ko"

    /// `ko_KR.UTF-8`, `ko_KR`, `ko-KR`, `ko` and `ko_KR.eucKR@x` are Korean; anything else
    /// (including nil, empty, `C` and `POSIX`) is English.
    public init(lang: String?) {
        let language = (lang ?? "").prefix { $0 != "_" && $0 != "-" && $0 != "." && $0 != "@" }
        self = language.lowercased() == "ko" ? .korean : .english
    }

    /// POSIX precedence: the first non-empty of `LC_ALL`, `LC_MESSAGES`, `LANG`.
    public init(environment: [String: String]) {
        let lang = ["LC_ALL", "LC_MESSAGES", "LANG"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty }
        self.init(lang: lang)
    }
}

/// A value with a stable code and a label in each ``DisplayLanguage``.
public protocol Labelled {
    var englishLabel: String { get }
    var koreanLabel: String { get }
}

extension Labelled {
    public func label(for language: DisplayLanguage) -> String {
        switch language {
        case .english: englishLabel
        case .korean: koreanLabel
        }
    }

    /// The label for a LANG-style locale string such as `ko_KR.UTF-8`.
    public func label(forLocale lang: String?) -> String {
        label(for: DisplayLanguage(lang: lang))
    }
}
