import LedgerCrypto

/// An entry named by its place in its author's log and its hash (a place alone could name
/// either branch of a fork).
public struct EntryRef: Sendable, Hashable {
    public let author: DevicePublicKey
    public let seq: Seq
    public let hash: EntryHash

    public init(author: DevicePublicKey, seq: Seq, hash: EntryHash) {
        (self.author, self.seq, self.hash) = (author, seq, hash)
    }

    /// The short id `history` shows: the first 16 hex digits of the hash.
    public var id: String { String(hash.hex.prefix(16)) }
}

/// Which amount and memo each corrected credit or debit counts with, decided the same way on
/// every replica from the set of counted entries alone (docs/PROTOCOL.md, "Corrections").
///
/// Corrections form a tree under the credit or debit they correct: a correction of a
/// correction is its child. From the original, the path goes to the winning child at each
/// step, and the last correction on it decides the amount (0 voids the entry); the memo is the
/// last one given on the path. Of two corrections of the same entry (made without seeing each
/// other), the one with the later author time wins, ties broken by the greater device key, then
/// the greater seq; the other stays visible as overruled. A correction whose entry has not
/// arrived (or does not count yet) waits, and counts once it does.
public struct Corrections: Sendable, Equatable {
    /// A counted correction as the ledger stores it.
    public struct Item: Sendable, Equatable {
        public let ref: EntryRef
        public let time: Int64
        public let target: EntryRef
        public let amount: Int64
        public let memo: String?

        public init(ref: EntryRef, time: Int64, target: EntryRef, amount: Int64, memo: String?) {
            (self.ref, self.time, self.target, self.amount, self.memo) = (ref, time, target, amount, memo)
        }
    }

    /// A credit or debit a correction may name, as the ledger holds it.
    public struct Original: Sendable, Equatable {
        public let ref: EntryRef
        public let kind: EntryKind
        public let time: Int64
        /// Nil when this replica cannot read it.
        public let amount: Int64?
        public let memo: String?

        public init(ref: EntryRef, kind: EntryKind, time: Int64, amount: Int64?, memo: String?) {
            (self.ref, self.kind, self.time, self.amount, self.memo) = (ref, kind, time, amount, memo)
        }
    }

    /// What an entry named by a correction turned out to be.
    public enum Lookup: Sendable {
        /// A counted credit or debit.
        case original(Original)
        /// Not in the ledger, or not counted yet: the correction waits.
        case absent
        /// Something else at that place (another kind, or another hash): the correction is void.
        case unusable
    }

    /// How a correction stands.
    public enum State: Sendable, Equatable {
        /// It decides the entry's amount.
        case counts
        /// A later correction of it decides instead.
        case replaced(by: EntryRef)
        /// A correction of the same entry made at the same time (without seeing this one) won.
        case overruled(by: EntryRef)
        /// The entry it corrects has not arrived, or does not count yet.
        case waiting
        /// It names something that is not a credit, a debit or a correction of this ledger.
        case unusable
    }

    /// The outcome for one corrected credit or debit.
    public struct Effect: Sendable, Equatable {
        public let original: Original
        /// The amount that counts: nil when unreadable here, 0 when voided.
        public let amount: Int64?
        public let memo: String?
        /// The correction that decides.
        public let decidedBy: EntryRef
        public var isVoid: Bool { amount == 0 }
    }

    /// Effects by the hash of the corrected credit or debit.
    public private(set) var effects: [EntryHash: Effect] = [:]
    /// States of every counted correction, by its hash.
    public private(set) var states: [EntryHash: State] = [:]
    /// Each correction that reaches a credit or debit, by its hash: that entry's hash.
    public private(set) var roots: [EntryHash: EntryHash] = [:]
    /// The corrections themselves, by hash.
    public private(set) var items: [EntryHash: Item] = [:]

    public static let none = Corrections()

    /// The table a replica keeps them in.
    static let schema = """
        CREATE TABLE corrections (
            author INTEGER NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, time INTEGER NOT NULL,
            target_author BLOB NOT NULL, target_seq INTEGER NOT NULL, target_hash BLOB NOT NULL,
            amount INTEGER NOT NULL, memo TEXT, PRIMARY KEY (author, seq)) WITHOUT ROWID;
        """

    init() {}

    /// Resolves `items` (every counted correction); `lookup` tells what a named entry is when
    /// it is not itself one of `items`.
    public init(_ items: [Item], lookup: (EntryRef) throws -> Lookup) rethrows {
        for item in items { self.items[item.ref.hash] = item }
        var originals: [EntryHash: Original] = [:]
        var children: [EntryHash: [Item]] = [:]
        // Each correction's root, walking up its targets; memoised, and bounded by the number
        // of corrections (hashes cannot form a cycle, but the walk does not rely on it).
        var resolved: [EntryHash: Result<EntryHash, Failure>] = [:]
        enum Failure: Error { case waiting, unusable }
        for item in items {
            var path: [Item] = []
            var current = item
            var outcome: Result<EntryHash, Failure>?
            while outcome == nil {
                if let known = resolved[current.ref.hash] {
                    outcome = known
                    break
                }
                path.append(current)
                let target = current.target
                if let parent = self.items[target.hash] {
                    guard parent.ref == target, path.count <= items.count else {
                        outcome = .failure(.unusable)
                        break
                    }
                    current = parent
                    continue
                }
                switch try originals[target.hash].map(Lookup.original) ?? lookup(target) {
                case .original(let original) where original.ref == target && original.kind.isRecord:
                    originals[target.hash] = original
                    outcome = .success(target.hash)
                case .absent:
                    outcome = .failure(.waiting)
                default:
                    outcome = .failure(.unusable)
                }
            }
            for step in path { resolved[step.ref.hash] = outcome }
        }
        for item in items {
            switch resolved[item.ref.hash] {
            case .success(let root)?:
                roots[item.ref.hash] = root
                children[item.target.hash, default: []].append(item)
            case .failure(.waiting)?: states[item.ref.hash] = .waiting
            default: states[item.ref.hash] = .unusable
            }
        }
        for (rootHash, original) in originals where children[rootHash] != nil {
            var node = rootHash
            var memo = original.memo
            var decided: Item?
            while let kids = children[node], let winner = kids.max(by: Self.precedes) {
                for kid in kids where kid.ref != winner.ref { markOverruled(kid, by: winner.ref, children) }
                if let decided { states[decided.ref.hash] = .replaced(by: winner.ref) }
                if let given = winner.memo { memo = given }
                decided = winner
                node = winner.ref.hash
            }
            guard let decided else { continue }
            states[decided.ref.hash] = .counts
            effects[rootHash] = Effect(
                original: original, amount: original.amount == nil ? nil : decided.amount, memo: memo,
                decidedBy: decided.ref)
        }
    }

    /// Of two corrections of one entry, whether `a` loses to `b`: the later author time wins,
    /// then the greater device key, then the greater seq.
    static func precedes(_ a: Item, _ b: Item) -> Bool {
        if a.time != b.time { return a.time < b.time }
        if a.ref.author != b.ref.author { return a.ref.author < b.ref.author }
        return a.ref.seq < b.ref.seq
    }

    /// Marks `item` and every correction under it as overruled by `winner`.
    private mutating func markOverruled(_ item: Item, by winner: EntryRef, _ children: [EntryHash: [Item]]) {
        var stack = [item]
        while let next = stack.popLast() {
            states[next.ref.hash] = .overruled(by: winner)
            stack += children[next.ref.hash] ?? []
        }
    }

    /// What the corrections change in credits and debits, and how many corrected entries
    /// cannot be read here.
    public var adjustment: (credits: Int128, debits: Int128, unreadable: Int) {
        var credits: Int128 = 0
        var debits: Int128 = 0
        var unreadable = 0
        for effect in effects.values {
            guard let before = effect.original.amount, let after = effect.amount else {
                unreadable += 1
                continue
            }
            let change = Int128(after) - Int128(before)
            if effect.original.kind == .credit { credits += change } else { debits += change }
        }
        return (credits, debits, unreadable)
    }

    /// The correction that `correct` should name to change what `original` counts with now:
    /// the one deciding today (so the new one replaces it), or the original itself.
    public func currentTarget(of original: EntryRef) -> EntryRef {
        effects[original.hash]?.decidedBy ?? original
    }

    /// The credit or debit `hash` (an original or a correction) comes down to, if any.
    public func root(of hash: EntryHash) -> EntryHash? {
        items[hash] == nil ? hash : roots[hash]
    }
}
