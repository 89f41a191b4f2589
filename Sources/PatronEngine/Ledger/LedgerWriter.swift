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
/// of its own: the queue is a lock, not an actor (docs/PERFORMANCE.md). Where the store can run a
/// batch on the calling thread (`LedgerStore.blockingPerform`, SQLite's one writer connection),
/// batches run one after another on a thread of the writer's own, which takes the next batch as
/// soon as one commits and sleeps when nothing waits; elsewhere each batch is a task
/// (docs/DECISIONS.md, "SQLite's batches run on a thread of the writer's own").
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
        var thread = ThreadState.none
        /// How many writer's threads have started.
        var threadsStarted = 0
    }

    /// The writer's thread, where the store runs batches on the calling thread.
    private enum ThreadState {
        /// None is running.
        case none
        /// It is taking or committing batches.
        case busy
        /// It waits on `wake` for a write.
        case waiting
    }

    private let store: any LedgerStore
    private let blockingPerform: (@Sendable ([LedgerWork]) throws -> [Result<LedgerPlan, any Error>])?
    private let state = Mutex(State())
    /// Signalled when a write arrives for a waiting thread.
    private let wake = DispatchSemaphore(value: 0)
    /// How long the writer's thread waits for a write before it ends; the next write starts another.
    private let threadIdleTimeout: DispatchTimeInterval
    /// Starts a system thread that runs its argument; false when the system refuses one.
    private let startThread: @Sendable (@escaping @Sendable () -> Void) -> Bool

    init(store: any LedgerStore, threadIdleTimeout: DispatchTimeInterval = .seconds(1),
         startThread: @escaping @Sendable (@escaping @Sendable () -> Void) -> Bool = LedgerWriter.startSystemThread) {
        self.store = store
        blockingPerform = store.blockingPerform
        self.threadIdleTimeout = threadIdleTimeout
        self.startThread = startThread
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
        guard blockingPerform == nil else { return enqueueForThread(entry) }
        // One turn of the lock both queues the write and takes the batches it lets start.
        let batches = state.withLock { state -> [[Entry]]? in
            guard state.queue.count < Self.maxQueueLength else { return nil }
            state.queue.append(entry)
            return takeBatches(&state)
        }
        guard let batches else { return refuse(entry) }
        start(batches)
    }

    private func refuse(_ entry: Entry) {
        entry.waiter.resume(with: .failure(EngineError.unavailable(
            code: "overloaded", detail: "Too many writes are waiting; retry shortly.")))
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

    // MARK: - The writer's thread

    /// The system's name of the writer's thread (at most 15 bytes, as Linux allows).
    static let threadName = "patron-ledger"

    /// How many writer's threads have started so far.
    var threadsStarted: Int { state.withLock { $0.threadsStarted } }

    /// How many writes wait to be taken into a batch.
    var queueLength: Int { state.withLock { $0.queue.count } }

    /// Whether a writer's thread is running (busy or waiting for writes).
    var threadRunning: Bool { state.withLock { $0.thread != .none } }

    private func enqueueForThread(_ entry: Entry) {
        enum Then { case refuse, nothing, signal, startThread }
        let then = state.withLock { state -> Then in
            guard state.queue.count < Self.maxQueueLength else { return .refuse }
            state.queue.append(entry)
            switch state.thread {
            case .busy: return .nothing
            case .waiting: state.thread = .busy; return .signal
            case .none:
                state.thread = .busy
                state.threadsStarted += 1
                return .startThread
            }
        }
        switch then {
        case .refuse: refuse(entry)
        case .nothing: break
        case .signal: wake.signal()
        case .startThread:
            guard !startThread({ [self] in runThread() }) else { return }
            // No thread will take what waits, this write with it: each is refused, and the next
            // write tries to start one again.
            let waiting = state.withLock { state in
                state.thread = .none
                state.threadsStarted -= 1
                defer { state.queue.removeAll() }
                return state.queue
            }
            for entry in waiting {
                entry.waiter.resume(with: .failure(EngineError.unavailable(
                    code: "writer_unavailable", detail: "The ledger's writer could not start; retry shortly.")))
            }
        }
    }

    /// Starts a detached system thread named `threadName` that runs `body`, with the system's
    /// default stack; false when the system refuses (`pthread_create` fails, as it may for want of
    /// memory or under a limit on threads). Foundation's `Thread` gives no way to see that failure.
    static func startSystemThread(_ body: @escaping @Sendable () -> Void) -> Bool {
        var attributes = pthread_attr_t()
        guard pthread_attr_init(&attributes) == 0 else { return false }
        defer { pthread_attr_destroy(&attributes) }
        guard pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) == 0 else { return false }
        #if canImport(Darwin)
        var thread: pthread_t?
        #else
        var thread = pthread_t()
        #endif
        let box = Unmanaged.passRetained(ThreadBody(body))
        let code = pthread_create(&thread, &attributes, { argument in
            ThreadBody.run(argument)
            return nil
        }, box.toOpaque())
        guard code == 0 else {
            box.release()
            return false
        }
        return true
    }

    /// Commits batch after batch while writes wait; waits for more up to `threadIdleTimeout`, then
    /// ends.
    private func runThread() {
        guard let perform = blockingPerform else { return }
        let maxBatchSize = max(1, store.maxBatchSize)
        while true {
            let batch = state.withLock { state -> [Entry]? in
                guard !state.queue.isEmpty else {
                    state.thread = .waiting
                    return nil
                }
                let batch = Array(state.queue.prefix(maxBatchSize))
                state.queue.removeFirst(batch.count)
                return batch
            }
            if let batch {
                commit(batch, perform: perform)
                continue
            }
            if wake.wait(timeout: .now() + threadIdleTimeout) == .timedOut {
                let ends = state.withLock { state -> Bool in
                    guard state.thread == .waiting else { return false }
                    state.thread = .none
                    return true
                }
                if ends { return }
                // A write set the thread busy as the wait ran out: take its signal.
                wake.wait()
            }
        }
    }

    /// `commit(_:)` on the writer's thread.
    private func commit(_ batch: [Entry], perform: ([LedgerWork]) throws -> [Result<LedgerPlan, any Error>]) {
        let results: [Result<LedgerPlan, any Error>]
        do {
            results = try perform(batch.map(\.work))
        } catch where batch.count > 1 {
            // As in `commit(_:)`: each write again in a transaction of its own.
            results = batch.map { entry in Result { try perform([entry.work])[0] }.flatMap { $0 } }
        } catch {
            results = batch.map { _ in .failure(error) }
        }
        for (entry, result) in zip(batch, results) { entry.waiter.resume(with: result) }
    }
}

/// What a thread started by `LedgerWriter.startSystemThread` runs, carried through `pthread_create`.
private final class ThreadBody: Sendable {
    let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    /// On the new thread: names it, then runs and releases the body `argument` holds (optional
    /// here, so that the call reads the same whether the system's start routine takes it optional).
    static func run(_ argument: UnsafeMutableRawPointer?) {
        // Foundation names the system's thread, from the thread itself.
        Thread.current.name = LedgerWriter.threadName
        guard let argument else { return }
        Unmanaged<ThreadBody>.fromOpaque(argument).takeRetainedValue().body()
    }
}
