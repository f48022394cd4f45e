import Foundation
import LedgerSync
import Testing

@Suite("Store polling schedule")
struct StoreScheduleTests {
    let schedule = StoreSchedule(interval: .seconds(30), cap: .seconds(1800))

    @Test("after a success the interval; after failures the interval doubling to the cap")
    func backoff() {
        #expect(schedule.delay(failures: 0, jitter: 0.5) == .seconds(30))
        #expect(
            (1...8).map { schedule.delay(failures: $0, jitter: 0.5) }
                == [30, 60, 120, 240, 480, 960, 1800, 1800].map(Duration.seconds))
        // Jitter spreads each wait by up to a fifth either way.
        #expect(schedule.delay(failures: 2, jitter: 0) == .seconds(48))
        #expect(schedule.delay(failures: 2, jitter: 1) == .seconds(72))
    }

    @Test("Retry-After wins when it asks for more patience, up to an hour")
    func retryAfterWins() {
        #expect(schedule.delay(failures: 1, retryAfter: .seconds(600), jitter: 0.5) == .seconds(600))
        #expect(schedule.delay(failures: 1, retryAfter: .seconds(5), jitter: 0.5) == .seconds(30))
        #expect(schedule.delay(failures: 9, retryAfter: .seconds(10), jitter: 0.5) == .seconds(1800))
        #expect(schedule.delay(failures: 1, retryAfter: .seconds(86_400), jitter: 0.5) == .seconds(3600))
    }

    @Test("Retry-After parses as delta-seconds and as an HTTP-date, clamped to zero..one hour")
    func parse() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)  // Fri, 15 Jan 2027 08:00:00 GMT
        #expect(RetryAfter.parse("120", now: now) == .seconds(120))
        #expect(RetryAfter.parse(" 0 ", now: now) == .seconds(0))
        #expect(RetryAfter.parse("999999", now: now) == .seconds(3600))
        #expect(RetryAfter.parse("Fri, 15 Jan 2027 08:01:30 GMT", now: now) == .seconds(90))
        #expect(RetryAfter.parse("Friday, 15-Jan-27 08:00:10 GMT", now: now) == .seconds(10))
        #expect(RetryAfter.parse("Fri Jan 15 08:00:05 2027", now: now) == .seconds(5))
        #expect(RetryAfter.parse("Fri, 15 Jan 2027 07:00:00 GMT", now: now) == .seconds(0))  // in the past
        #expect(RetryAfter.parse("Sat, 15 Jan 2028 08:00:00 GMT", now: now) == .seconds(3600))
        for bad in ["", "soon", "-5", "1.5", "Fri, 32 Jan 2027 08:00:00 GMT"] {
            #expect(RetryAfter.parse(bad, now: now) == nil, "\(bad)")
        }
    }

    @Test("the badge shows a long sync's progress, failures in a row, and a store found lying")
    func badge() {
        var status = StoreStatus(url: "http://store.example")
        #expect(status.badge == "store ok")
        status.receiving = 4_000
        status.total = 10_000
        #expect(status.badge == "store 40%")
        status.receiving = 20_000  // a store that miscounts never shows more than 100%
        #expect(status.badge == "store 100%")
        status.receiving = nil
        status.total = nil
        status.consecutiveFailures = 3
        #expect(status.badge == "store ✗3")
        status.consecutiveFailures = 0
        status.problem = "the store sent 1 entry this device refused"
        #expect(status.badge == "store ⚠")
    }
}
