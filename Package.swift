// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "gwdir",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "LDAPClient", targets: ["LDAPClient"]),
        .executable(name: "gwdir", targets: ["gwdir"]),
        .executable(name: "gwdir-bench", targets: ["gwdir-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
    ],
    targets: [
        // System library over libldap/liblber/libsasl2 (Debian: libldap2-dev, libsasl2-dev).
        .systemLibrary(
            name: "CLDAP",
            pkgConfig: "ldap",
            providers: [.apt(["libldap2-dev", "libsasl2-dev"])]
        ),
        // Variadic BER coding and pointer macros that Swift cannot call.
        .target(name: "CLDAPShims", dependencies: ["CLDAP"]),
        .target(name: "LDAPClient", dependencies: ["CLDAP", "CLDAPShims"], swiftSettings: strict),
        // schema/ is the single source of the schema and slapd cn=config templates; it ships as resources.
        .target(
            name: "DirectorySchema",
            path: "schema",
            exclude: ["README.md"],
            sources: ["swift"],
            resources: [.copy("gwdir.schema"), .copy("gwdir.ldif"), .copy("slapd")],
            swiftSettings: strict
        ),
        // docker/postfix and docker/dovecot, the mail-server templates, shipped as resources for
        // `gwdir mail-config render` (the same files the containers and the mail tests render).
        .target(
            name: "MailConfigTemplates",
            path: "docker",
            exclude: ["README.md", "compose.yaml", "mail-entrypoint.sh", "slapd", "gwdir", "mail"],
            sources: ["swift"],
            resources: [.copy("postfix"), .copy("dovecot")],
            swiftSettings: strict
        ),
        // Runs a throwaway or long-lived slapd from the templates (tests, `gwdir local`, benchmarks).
        .target(name: "LocalSlapd", dependencies: ["DirectorySchema"], swiftSettings: strict),
        // Runs Debian's Dovecot from the docker/dovecot templates on 127.0.0.1 (mail tests, benchmarks).
        .target(name: "LocalMailServers", dependencies: ["LocalSlapd", "MailConfigTemplates"], swiftSettings: strict),
        // System library over libmaxminddb (Debian: libmaxminddb-dev): country of a client IP.
        .systemLibrary(name: "CMaxMindDB", pkgConfig: "libmaxminddb", providers: [.apt(["libmaxminddb-dev"])]),
        // The one module besides LDAPClient that touches C: MaxMind `.mmdb` lookups.
        .target(name: "GeoIP", dependencies: ["CMaxMindDB"], swiftSettings: strict),
        // Domain model and services; talks to LDAP only through LDAPClient.
        .target(
            name: "Directory",
            dependencies: [
                "LDAPClient", "GeoIP", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // `gwdir serve`: the HTTP API and Dovecot's auth-policy endpoint (Hummingbird 2).
        .target(
            name: "DirectoryServer",
            dependencies: [
                "Directory", "GeoIP", "LDAPClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "gwdir",
            dependencies: [
                "LDAPClient", "LocalSlapd", "Directory", "DirectorySchema", "GeoIP", "MailConfigTemplates", "DirectoryServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // A workload over every LDAPClient path, run under LeakSanitizer by LeakTests.
        .executableTarget(name: "ldap-leak-check", dependencies: ["LDAPClient"], path: "Sources/LDAPLeakCheck", swiftSettings: strict),
        // libFuzzer targets over the DN, filter and LDIF parsers (scripts/fuzz.sh builds it with
        // --sanitize=fuzzer and -DGWDIR_FUZZING; otherwise it replays the inputs it is given).
        .executableTarget(name: "gwdir-fuzz", dependencies: ["LDAPClient", "Directory"], path: "Sources/GWDirFuzz", swiftSettings: strict),
        // The benchmark: LDAPClient against raw libldap loops (the only C outside LDAPClient,
        // a baseline by definition) and python-ldap; the policy endpoint over HTTP (a SwiftNIO
        // client) and IMAP logins through Dovecot (LocalMailServers).
        .target(name: "CBenchBaseline", dependencies: ["CLDAP"], linkerSettings: [.linkedLibrary("ldap"), .linkedLibrary("lber")]),
        .executableTarget(
            name: "gwdir-bench",
            dependencies: [
                "LDAPClient", "LocalSlapd", "LocalMailServers", "CBenchBaseline", "Directory", "DirectoryServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Appends to a login spool until killed: the `kill -9` test of SpooledRecorderTests.
        .executableTarget(name: "spool-crash-writer", dependencies: ["Directory"], path: "Sources/SpoolCrashWriter", swiftSettings: strict),
        // The slapd harness shared by every test target.
        .target(name: "TestSupport", dependencies: ["LDAPClient", "LocalSlapd", "DirectorySchema"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "LDAPClientTests", dependencies: ["LDAPClient", "LocalSlapd", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DirectoryTests", dependencies: ["Directory", "GeoIP", "LDAPClient", "TestSupport"], swiftSettings: strict),
        // Schema, overlays and the ACL matrix, with raw LDAP binds as each role.
        .testTarget(name: "SchemaTests", dependencies: ["LDAPClient", "LocalSlapd", "TestSupport"], swiftSettings: strict),
        // Debian's Postfix and Dovecot LDAP lookups against the harness slapd.
        .testTarget(name: "MailServerTests", dependencies: ["LDAPClient", "LocalSlapd", "LocalMailServers", "TestSupport", "Directory", "DirectoryServer"], swiftSettings: strict),
        // Runs the built `gwdir` binary.
        // Two local slapd nodes replicating each other (schema/slapd/replication.ldif); LDAPClient failover.
        .testTarget(name: "ReplicationTests", dependencies: ["LDAPClient", "LocalSlapd", "TestSupport"], swiftSettings: strict),
        // The Dovecot auth-policy endpoint: pure parts, HTTP in-process, the built `gwdir serve`.
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "DirectoryServer", "Directory", "LDAPClient", "LocalSlapd", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "GWDirCLITests", dependencies: ["gwdir", "LDAPClient", "LocalSlapd", "TestSupport", "Directory"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
