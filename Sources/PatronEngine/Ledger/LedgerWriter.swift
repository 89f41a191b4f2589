import Foundation
import PatronCore
import Synchronization

/// Group commit: writes that arrive while a batch is being committed wait and go together in the
/// next one, so that under load many writes share one durable commit, and an idle system commits a
/// lone write at once. Each write is answered only when its batch is durable; a write that fails
/// fails alone.
///
/// A write waits either in a suspended task (`submit(_:) async`) or as a callback
/// (`submit(_:completion:)`), which a caller on an event loop uses so that an event costs no task
/// of its own: the queue is a lock, not an actor, and a batch is one task (docs/PERFORMANCE.md).
final class LedgerWriter: Sendable {
    /// The most writes waiting; beyond this, new writes are refused rather than queued without bound.
    static let maxQueueLength = 50_000

    /// How a write's outcome reaches whoever waits for it.
    private enum Waiter: Sendable {
        case task(CheckedContinuation<LedgerPlan, any Error>)
        case callback(@Sendable (Result<LedgerPlan, any Error>) -> Void)

        func resume(with result: Result<LedgerPlan, any Error>) {
            switch self {
            case .task(let continuation): continuation.resume(with: result)
            case .callback(let completion): completion(result)
            }
        }
    }

    private struct Entry: Sendable {
        var work: LedgerWork
        var waiter: Waiter
    }

    private struct State {
        var queue: [Entry] = []
        var batchesInFlight = 0
    }

    private let store: any LedgerStore
    private let state = Mutex(State())

    init(store: any LedgerStore) {
        self.store = store
    }

    /// Runs `work` in the next batch and returns its plan once the batch is committed.
    func submit(_ work: LedgerWork) async throws -> LedgerPlan {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(Entry(work: work, waiter: .task(continuation)))
        }
    }

    /// Runs `work` in the next batch and calls `completion` with its plan once the batch is
    /// committed, on the thread that committed it: `completion` should hand its work elsewhere.
    func submit(_ work: LedgerWork, completion: @escaping @Sendable (Result<LedgerPlan, any Error>) -> Void) {
        enqueue(Entry(work: work, waiter: .callback(completion)))
    }

    private func enqueue(_ entry: Entry) {
        // One turn of the lock both queues the write and takes the batches it lets start.
        let batches = state.withLock { state -> [[Entry]]? in
            guard state.queue.count < Self.maxQueueLength else { return nil }
            state.queue.append(entry)
            return takeBatches(&state)
        }
        guard let batches else {
            return entry.waiter.resume(with: .failure(EngineError.unavailable(
                code: "overloaded", detail: "Too many writes are waiting; retry shortly.")))
        }
        start(batches)
    }

    /// Takes from what waits as many batches as the store takes at once, counting them in flight.
    private func takeBatches(_ state: inout State) -> [[Entry]] {
        var batches: [[Entry]] = []
        while state.batchesInFlight < max(1, store.maxConcurrentBatches), !state.queue.isEmpty {
            let batch = Array(state.queue.prefix(max(1, store.maxBatchSize)))
            state.queue.removeFirst(batch.count)
            state.batchesInFlight += 1
            batches.append(batch)
        }
        return batches
    }

    private func start(_ batches: [[Entry]]) {
        for batch in batches {
            Task { await self.commit(batch) }
        }
    }

    private func commit(_ batch: [Entry]) async {
        let results: [Result<LedgerPlan, any Error>]
        do {
            results = try await store.perform(batch.map(\.work))
        } catch where batch.count > 1 {
            // The transaction failed (a write that failed part-way, a deadlock, a lost
            // connection): nothing of it was written. Each write gets its own transaction, so one
            // cause fails only its own write.
            var each: [Result<LedgerPlan, any Error>] = []
            for entry in batch {
                do {
                    each.append(try await store.perform([entry.work])[0])
                } catch {
                    each.append(.failure(error))
                }
            }
            results = each
        } catch {
            results = batch.map { _ in .failure(error) }
        }
        // The next batch starts before these writes are answered, so that it does not wait for them.
        start(state.withLock { state in
            state.batchesInFlight -= 1
            return takeBatches(&state)
        })
        for (entry, result) in zip(batch, results) { entry.waiter.resume(with: result) }
    }
}
