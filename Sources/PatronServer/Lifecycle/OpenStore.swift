import Logging
import PatronEngine
import ServiceLifecycle

/// Opens the store at `url` for a one-off command (`patron migrate`), running whatever it needs
/// (the PostgreSQL pool) for as long as `work` runs.
public func withStore<T: Sendable>(at url: String, logger: Logger,
                                   _ work: @Sendable @escaping (any PatronStore) async throws -> T) async throws -> T {
    let (store, services) = try StoreLocation(url).open(logger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        for service in services {
            group.addTask {
                try await service.run()
                return nil
            }
        }
        group.addTask { try await work(store) }
        while let result = try await group.next() {
            if let result {
                group.cancelAll()
                return result
            }
        }
        // Only `work` returns a value and services run until cancelled, so the loop returns above.
        preconditionFailure("the work task ended without a result")
    }
}
