import Foundation
import Testing

/// The rule that keeps the store shardable on the identity (docs/OPERATIONS.md, "Many
/// identities"): every SQL statement the servers run on an identity's tables names the
/// identity. Read from the backends' source, so a new statement cannot slip past it.
@Suite("Sharding rule")
struct ShardingRuleTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/LedgerServer")

    /// Statements that may read across identities, each for its reason.
    static let exceptions: [(String, String)] = [
        ("expires <", "the purge of expired rows, a maintenance pass"),
        ("count(*)", "the /metrics counts and a mailbox's message count (by mailbox)"),
        ("sum(version)", "the /metrics entry count"),
        ("FROM recovery_keys WHERE key", "the recovery lookup, by the key (that table is sharded on it)"),
        ("FROM ledgerlink_recovery_keys WHERE key", "the same on PostgreSQL"),
        ("pragma_table_info", "SQLite's schema check when a server starts"),
        ("WHERE author IS NULL", "the one-time fill of author and seq on rows stored before they were kept"),
    ]

    /// The tables keyed by identity, and the column that names it.
    static let tables = [
        "identities": "id", "entries": "identity", "challenges": "identity", "tokens": "identity",
        "mailboxes": "identity",
    ]

    @Test("every statement on an identity's tables names the identity, but the listed exceptions")
    func statementsNameTheIdentity() throws {
        var checked = 0
        for file in ["StoreBackend.swift", "PostgresBackend.swift"] {
            let text = try String(contentsOf: Self.sources.appendingPathComponent(file), encoding: .utf8)
            // Each SQL statement: from a DML keyword to the end of its string literal.
            for match in text.matches(of: /(SELECT|INSERT|UPDATE|DELETE)[^"]*/) {
                let statement = String(match.0)
                guard !statement.hasPrefix("SELECT 1"), !statement.contains("pg_advisory"),
                    !Self.exceptions.contains(where: { statement.contains($0.0) })
                else { continue }
                for (table, column) in Self.tables
                where statement.range(of: "\\b(ledgerlink_)?\(table)\\b", options: .regularExpression) != nil {
                    // A pairing mailbox is looked up by its id (mailboxes are aside from the rule).
                    if table == "mailboxes", statement.contains("WHERE id =") || statement.contains("mailbox IN") {
                        continue
                    }
                    #expect(
                        statement.contains(column) || statement.contains("\\(id)"),
                        "\(file): a statement on \(table) does not name the identity: \(statement.prefix(120))")
                    checked += 1
                }
            }
        }
        #expect(checked >= 16, "the test found the statements it checks (\(checked))")
    }
}
