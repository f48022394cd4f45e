import Foundation

/// A steady rate with a burst allowance.
package struct RateLimit: Sendable, Equatable {
    package var perSecond: Double
    package var burst: Double

    package init(perSecond: Double, burst: Double) {
        self.perSecond = perSecond
        self.burst = burst
    }

    /// Seconds an empty bucket takes to fill: a bucket left alone this long is full, the same
    /// as no bucket at all.
    var refillSeconds: Double { perSecond > 0 ? burst / perSecond : .infinity }
}

/// Token buckets by key (an address, an identity), kept by this server process, in bounded
/// memory and constant time per request at any number of keys (anyone can name random
/// identity ids without logging in).
///
/// Buckets live in two generations. A request looks its key up in the current one, then the
/// previous one (moving it to the current). The generations turn over when the current one
/// has been in use for a refill time (every bucket then in the previous generation has been
/// untouched that long, so is full, and forgetting it changes nothing), or when it holds half
/// of `capacity` keys (a flood of new keys: buckets forgotten early give their keys a fresh
/// burst, a bounded leniency). At most `capacity` keys are ever held.
package actor RateLimiter {
    private let limit: RateLimit
    private let capacity: Int
    private let now: @Sendable () -> Double
    private var current: [String: Bucket] = [:]
    private var previous: [String: Bucket] = [:]
    private var turnedAt: Double

    struct Bucket {
        var tokens: Double
        var at: Double
    }

    package init(
        _ limit: RateLimit, capacity: Int = 200_000,
        now: @escaping @Sendable () -> Double = {
            Date().timeIntervalSince1970
        }
    ) {
        self.limit = limit
        self.capacity = max(2, capacity)
        self.now = now
        turnedAt = now()
    }

    /// Takes one request's token; nil when allowed, else the seconds to wait.
    package func take(_ key: String) -> Int? {
        let t = now()
        if t - turnedAt >= limit.refillSeconds || current.count >= capacity / 2 {
            previous = current
            current = [:]
            current.reserveCapacity(min(capacity / 2, max(64, previous.count)))
            turnedAt = t
        }
        var bucket = current[key] ?? previous.removeValue(forKey: key) ?? Bucket(tokens: limit.burst, at: t)
        bucket.tokens = min(limit.burst, bucket.tokens + max(0, t - bucket.at) * limit.perSecond)
        bucket.at = t
        defer { current[key] = bucket }
        guard bucket.tokens >= 1 else { return max(1, Int(((1 - bucket.tokens) / limit.perSecond).rounded(.up))) }
        bucket.tokens -= 1
        return nil
    }

    /// Keys held now (both generations), for tests and metrics.
    package var keys: Int { current.count + previous.count }
}
