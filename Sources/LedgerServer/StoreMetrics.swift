import Foundation
import Synchronization

/// Counters and a latency histogram, rendered in the Prometheus text format at /metrics.
package final class StoreMetrics: Sendable {
    private struct Values {
        var counters: [String: Int] = [:]
        var responses: [String: Int] = [:]
        var bucketCounts = [Int](repeating: 0, count: StoreMetrics.buckets.count)
        var latencySum = 0.0
        var latencyCount = 0
    }

    private let values = Mutex(Values())
    private static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    package init() {}

    func count(_ name: String, by amount: Int = 1) {
        values.withLock { $0.counters[name, default: 0] += amount }
    }

    func observe(route: String, status: Int, seconds duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let label = #"route="\#(Self.routeLabel(route))",status="\#(status)""#
        values.withLock { values in
            values.responses[label, default: 0] += 1
            for (index, bound) in Self.buckets.enumerated() where seconds <= bound { values.bucketCounts[index] += 1 }
            values.latencySum += seconds
            values.latencyCount += 1
        }
    }

    private static func routeLabel(_ route: String) -> String {
        ["challenge", "token", "sync", "healthz", "metrics"].contains(route) ? route : "other"
    }

    func render(
        counts: (identities: Int64, entries: Int64)?, cache: (identities: Int, engines: Int, bytes: Int)? = nil
    ) -> String {
        let values = self.values.withLock { $0 }
        let (counters, responses, bucketCounts) = (values.counters, values.responses, values.bucketCounts)
        let (latencySum, latencyCount) = (values.latencySum, values.latencyCount)
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("ledgerlink_store_responses_total", "counter", "HTTP responses by route and status.")
        for (label, value) in responses.sorted(by: { $0.key < $1.key }) {
            out += "ledgerlink_store_responses_total{\(label)} \(value)\n"
        }
        let named: [(String, String)] = [
            ("poll", "Nothing-changed polls answered."), ("sync", "Full syncs answered."),
            ("entries_received", "Entries devices pushed that were new to the store."),
            ("entries_sent", "Entries sent to devices."),
            ("sync_bytes_received", "Bytes of /sync request bodies (polls included)."),
            ("sync_bytes_sent", "Bytes of /sync response bodies (polls included)."),
            ("challenge", "Challenges issued."),
            ("token_issued", "Tokens issued."), ("token_refused", "Token requests refused."),
        ]
        for (key, help) in named {
            family("ledgerlink_store_\(key)_total", "counter", help)
            out += "ledgerlink_store_\(key)_total \(counters[key] ?? 0)\n"
        }
        family("ledgerlink_store_request_seconds", "histogram", "Time to answer a request.")
        for (index, bound) in Self.buckets.enumerated() {
            out += "ledgerlink_store_request_seconds_bucket{le=\"\(bound)\"} \(bucketCounts[index])\n"
        }
        out += "ledgerlink_store_request_seconds_bucket{le=\"+Inf\"} \(latencyCount)\n"
        out += "ledgerlink_store_request_seconds_sum \(latencySum)\n"
        out += "ledgerlink_store_request_seconds_count \(latencyCount)\n"
        if let counts {
            family("ledgerlink_store_identities", "gauge", "Identities stored.")
            out += "ledgerlink_store_identities \(counts.identities)\n"
            family("ledgerlink_store_entries", "gauge", "Entries stored, all identities.")
            out += "ledgerlink_store_entries \(counts.entries)\n"
        }
        if let cache {
            family("ledgerlink_store_cache_identities", "gauge", "Identities this server keeps in memory.")
            out += "ledgerlink_store_cache_identities \(cache.identities)\n"
            family("ledgerlink_store_cache_engines", "gauge", "Of those, identities with their entries in memory.")
            out += "ledgerlink_store_cache_engines \(cache.engines)\n"
            family("ledgerlink_store_cache_bytes", "gauge", "Memory the identity cache counts (--cache-mb bounds it).")
            out += "ledgerlink_store_cache_bytes \(cache.bytes)\n"
        }
        return out
    }
}
