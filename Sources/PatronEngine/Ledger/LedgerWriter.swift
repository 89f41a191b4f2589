import Foundation
import PatronCore

/// Group commit: writes that arrive while a batch is being committed wait and go together in the
/// next one, so that under load many writes share one durable commit, and an idle system commits a
/// lone write at once. Each write is answered only when its batch is durable; a write that fails
/// fails alone.
actor LedgerWriter {
    /// The most writes waiting; beyond this, new writes are refused rather than queued without bound.
    static let maxQueueLength = 50_000

    private let store: any LedgerStore
    private var queue: [(work: LedgerWork, continuation: CheckedContinuation<LedgerPlan, any Error>)] = []
    private var batchesInFlight = 0

    init(store: any LedgerStore) {
        self.store = store
    }

    /// Runs `work` in the next batch and returns its plan once the batch is committed.
    func submit(_ work: LedgerWork) async throws -> LedgerPlan {
        try await withCheckedThrowingContinuation { continuation in
            guard queue.count < Self.maxQueueLength else {
                continuation.resume(throwing: EngineError.unavailable(code: "overloaded",
                                                                      detail: "Too many writes are waiting; retry shortly."))
                return
            }
            queue.append((work, continuation))
            startBatches()
        }
    }

    private func startBatches() {
        while batchesInFlight < max(1, store.maxConcurrentBatches), !queue.isEmpty {
            let batch = Array(queue.prefix(max(1, store.maxBatchSize)))
            queue.removeFirst(batch.count)
            batchesInFlight += 1
            Task { await self.commit(batch) }
        }
    }

    private func commit(_ batch: [(work: LedgerWork, continuation: CheckedContinuation<LedgerPlan, any Error>)]) async {
        do {
            let results = try await store.perform(batch.map(\.work))
            for (entry, result) in zip(batch, results) { entry.continuation.resume(with: result) }
        } catch where batch.count > 1 {
            // The transaction failed (a write that failed part-way, a deadlock, a lost
            // connection): nothing of it was written. Each write gets its own transaction, so one
            // cause fails only its own write.
            for entry in batch {
                do {
                    let result = try await store.perform([entry.work])
                    entry.continuation.resume(with: result[0])
                } catch {
                    entry.continuation.resume(throwing: error)
                }
            }
        } catch {
            for entry in batch { entry.continuation.resume(throwing: error) }
        }
        batchesInFlight -= 1
        startBatches()
    }
}
