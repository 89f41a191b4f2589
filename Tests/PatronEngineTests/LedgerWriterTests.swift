import Foundation
import PatronCore
@testable import PatronEngine
import PatronTestSupport
import Synchronization
import Testing

@Suite("Ledger writer", .timeLimit(.minutes(1)))
struct LedgerWriterTests {
    /// A write that reads a member's (empty) ledger and writes nothing.
    private static let work = LedgerWork(read: LedgerRead(programID: "program", memberID: UUID().uuidString.lowercased())) { _ in
        LedgerPlan(changes: nil, outcome: 0)
    }

    /// Submits the write with a callback, and returns the name of the thread the callback ran on:
    /// the thread that committed the write's batch.
    private static func answeringThread(_ writer: LedgerWriter) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            writer.submit(work) { result in
                continuation.resume(with: result.map { _ in threadName() })
            }
        }
    }

    /// The system's name of the current thread.
    private static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .newlines)
    }

    @Test("runs SQLite's batches on a thread of its own, which ends when idle and starts again for the next write")
    func threadOfItsOwn() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            #expect(store.blockingPerform != nil)
            let writer = LedgerWriter(store: store, threadIdleTimeout: .milliseconds(200))
            let threads = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 { group.addTask { try await Self.answeringThread(writer) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(threads == Array(repeating: LedgerWriter.threadName, count: 20))
            let started = writer.threadsStarted
            #expect(started >= 1)
            // On a loaded machine the thread may see its wait run out late: wait for it to end.
            let deadline = ContinuousClock.now + .seconds(20)
            while writer.threadRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!writer.threadRunning)
            let later = try await Self.answeringThread(writer)
            #expect(later == LedgerWriter.threadName)
            #expect(writer.threadsStarted == started + 1, "the idle thread ended; the next write started another")
        }
    }

    @Test("runs batches as tasks on a store whose writes suspend", arguments: TestStoreKind.available.filter { $0 != .sqlite })
    func tasks(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            #expect(store.blockingPerform == nil)
            let writer = LedgerWriter(store: store)
            let thread = try await Self.answeringThread(writer)
            #expect(thread != LedgerWriter.threadName)
            #expect(writer.threadsStarted == 0)
        }
    }

    @Test("refuses what waits when the system will not start its thread, and starts one for the next write")
    func threadRefused() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            // Given a writer whose first thread the system refuses
            let refusals = Mutex(1)
            let writer = LedgerWriter(store: store, threadIdleTimeout: .milliseconds(200)) { body in
                let refuse = refusals.withLock { count in
                    defer { count -= 1 }
                    return count > 0
                }
                return refuse ? false : LedgerWriter.startSystemThread(body)
            }

            // When a write arrives, Then it is refused as unavailable, and no thread is taken for running
            let error = await #expect(throws: EngineError.self) { try await Self.answeringThread(writer) }
            guard case .unavailable(let code, _)? = error else {
                Issue.record("expected unavailable, got \(String(describing: error))")
                return
            }
            #expect(code == "writer_unavailable")
            #expect(!writer.threadRunning)
            #expect(writer.threadsStarted == 0)

            // When the next write arrives, Then a thread starts and commits it
            let thread = try await Self.answeringThread(writer)
            #expect(thread == LedgerWriter.threadName)
            #expect(writer.threadsStarted == 1)
        }
    }

    @Test("refuses a write that queued while the refused thread was being started, not only the first")
    func threadRefusedWithAWriteQueued() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            // Given a writer whose first start blocks until told, then is refused
            let starting = DispatchSemaphore(value: 0)
            let proceed = DispatchSemaphore(value: 0)
            let calls = Mutex(0)
            let writer = LedgerWriter(store: store, threadIdleTimeout: .milliseconds(200)) { body in
                let first = calls.withLock { count in
                    count += 1
                    return count == 1
                }
                guard first else { return LedgerWriter.startSystemThread(body) }
                starting.signal()
                proceed.wait()
                return false
            }
            /// The write's outcome, submitted from a thread of Dispatch's, which the first start blocks.
            func outcome() async -> Result<Void, any Error> {
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().async {
                        writer.submit(Self.work) { result in continuation.resume(returning: result.map { _ in }) }
                    }
                }
            }

            // When one write starts the thread and a second queues while it starts
            async let first = outcome()
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    starting.wait()
                    continuation.resume()
                }
            }
            async let second = outcome()
            // (the second is queued once the writer holds two writes; it does not start a thread)
            while writer.queueLength < 2 { try await Task.sleep(for: .milliseconds(5)) }
            proceed.signal()

            // Then both are refused as unavailable
            for result in await [first, second] {
                guard case .failure(EngineError.unavailable(let code, _)) = result else {
                    Issue.record("expected unavailable, got \(result)")
                    continue
                }
                #expect(code == "writer_unavailable")
            }
            #expect(calls.withLock { $0 } == 1)
            #expect(!writer.threadRunning)
        }
    }
}
