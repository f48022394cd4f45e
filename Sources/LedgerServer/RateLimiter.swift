import Foundation

/// A steady rate with a burst allowance.
package struct RateLimit: Sendable, Equatable {
    package var perSecond: Double
    package var burst: Double

    package init(perSecond: Double, burst: Double) {
        self.perSecond = perSecond
        self.burst = burst
    }
}

/// Token buckets by key (an address, an identity), kept by this server process.
actor RateLimiter {
    private let limit: RateLimit
    private let now: @Sendable () -> Double
    private var buckets: [String: (tokens: Double, at: Double)] = [:]

    init(_ limit: RateLimit, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.limit = limit
        self.now = now
    }

    /// Takes one request's token; nil when allowed, else the seconds to wait.
    func take(_ key: String) -> Int? {
        let t = now()
        var bucket = buckets[key] ?? (limit.burst, t)
        bucket.tokens = min(limit.burst, bucket.tokens + (t - bucket.at) * limit.perSecond)
        bucket.at = t
        defer {
            buckets[key] = bucket
            if buckets.count > 100_000 { buckets = buckets.filter { $0.value.tokens < limit.burst } }
        }
        guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / limit.perSecond).rounded(.up))) }
        bucket.tokens -= 1
        return nil
    }

}
