import ArgumentParser

@main
struct GWDir: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gwdir",
        abstract: "The directory behind a mail and groupware service, kept in OpenLDAP.",
        subcommands: []
    )
}
