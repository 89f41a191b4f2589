import Synchronization

/// Values kept for a short while so that the lookups every request makes (its API key, its
/// program) do not each go to the database. An entry lives `lifetime` on a monotonic clock; the
/// node that changes a value drops it at once, other nodes sharing the database see the change
/// when the entry expires. Misses are not kept, so unknown keys cannot fill the cache.
final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[Key: Entry]>([:])
    private let lifetime: Duration
    private let capacity: Int

    init(lifetime: Duration, capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The cached value for `key`, or what `load` finds (kept when it finds something).
    func value(for key: Key, load: () async throws -> Value?) async throws -> Value? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[key] }), entry.expires > now {
            return entry.value
        }
        guard let value = try await load() else { return nil }
        entries.withLock { entries in
            // Full: start again rather than track use; refilling costs one lookup per entry.
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(value: value, expires: now + lifetime)
        }
        return value
    }

    /// The cached value for `key` while it is fresh, without loading anything: for a caller that
    /// must not suspend, and takes another path on a miss.
    func cachedValue(for key: Key) -> Value? {
        guard let entry = entries.withLock({ $0[key] }), entry.expires > ContinuousClock.now else { return nil }
        return entry.value
    }

    /// Drops the entries whose value matches.
    func remove(where matches: (Value) -> Bool) {
        entries.withLock { entries in
            entries = entries.filter { !matches($0.value.value) }
        }
    }
}
