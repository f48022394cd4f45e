import LedgerServer
import LedgerTestSupport
import Testing

@Suite("Rate limiter")
struct RateLimiterTests {
    @Test("a burst, then a wait that says how long; a bucket refills with time")
    func burstAndRefill() async {
        let clock = Locked(1_000.0)
        let limiter = RateLimiter(RateLimit(perSecond: 2, burst: 4), now: { clock.value })
        for _ in 0..<4 { #expect(await limiter.take("a") == nil) }
        #expect(await limiter.take("a") == 1)
        #expect(await limiter.take("b") == nil)  // another key has its own bucket
        clock.withLock { $0 += 0.5 }
        #expect(await limiter.take("a") == nil)  // one token back
        #expect(await limiter.take("a") != nil)
        clock.withLock { $0 += 100 }
        for _ in 0..<4 { #expect(await limiter.take("a") == nil) }
    }

    @Test("200,000 keys named once each: memory stays bounded, and a busy key stays limited through the flood")
    func flood() async {
        let clock = Locked(1_000.0)
        let limiter = RateLimiter(RateLimit(perSecond: 1, burst: 10), capacity: 100_000, now: { clock.value })
        for _ in 0..<10 { #expect(await limiter.take("busy") == nil) }
        #expect(await limiter.take("busy") != nil)
        for index in 0..<200_000 {
            _ = await limiter.take("random-\(index)")
            if index % 20_000 == 0 {
                // The busy key keeps asking: it is kept, and refused, however many keys pass.
                #expect(await limiter.take("busy") != nil)
                #expect(await limiter.keys <= 100_000)
            }
        }
        #expect(await limiter.keys <= 100_000)
    }

    @Test("buckets left alone for a refill time are forgotten, exactly as if they were full")
    func idleBucketsExpire() async {
        let clock = Locked(1_000.0)
        let limiter = RateLimiter(RateLimit(perSecond: 10, burst: 20), now: { clock.value })
        for index in 0..<1_000 { _ = await limiter.take("k\(index)") }
        #expect(await limiter.keys == 1_000)
        clock.withLock { $0 += 2 }  // one refill time: the generation turns over
        _ = await limiter.take("new")
        clock.withLock { $0 += 2 }  // and again: the first thousand are gone
        _ = await limiter.take("newer")
        #expect(await limiter.keys == 2)
        for _ in 0..<20 { #expect(await limiter.take("k1") == nil) }  // full, as a forgotten bucket is
    }
}
