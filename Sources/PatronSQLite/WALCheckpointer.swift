import Foundation
import GRDB
import GRDBSQLite

/// Copies the write-ahead log back into the database file on a connection of its own, so that the
/// one writer does not stop its batches to do it.
///
/// SQLite's automatic checkpoint runs on the connection that commits, inside its COMMIT: under
/// load the writer spent a fifth of its time copying pages and syncing the database file, and a
/// batch that drew a checkpoint waited for all of it (docs/PERFORMANCE.md). Here the writer's
/// automatic checkpoint is off; its commit hook tells this checkpointer how long the log is, and
/// a passive checkpoint (which never waits for the writer or for readers) runs on a background
/// queue every `passiveEveryFrames` frames.
///
/// A pass copies each page once, from its newest frame, however many frames the log holds for it.
/// Under load a batch of events rewrites the same member-keyed index pages again and again, so the
/// longer the stretch of log a pass covers, the fewer pages it copies and syncs per event: passes
/// every 16,000 frames rather than every 1,000 took a tenth off the server's CPU per event
/// (docs/PERFORMANCE.md). The log then takes up to about 100 MB on disk (PostgreSQL's default
/// keeps up to 1 GB); SQLite reuses the file when it starts over.
///
/// A passive checkpoint alone would let the log grow without end under steady load: SQLite starts
/// the log over only when a write transaction begins with every frame already copied, and the
/// writer keeps adding frames while the background copies. So once the log is `restartAtFrames`
/// long, the background runs after every commit, and the writer itself copies what is left right
/// after a commit once that is at most `finishAtMostFrames` (about one batch): its next transaction
/// then starts the log over. A reader that keeps an old snapshot can hold frames back from every
/// checkpoint; at twice `restartAtFrames` the writer copies whatever is left.
final class WALCheckpointer: @unchecked Sendable {
    /// When the log's frames are copied back.
    struct Lengths {
        /// Frames the log may grow by before the background copies them.
        var passiveEveryFrames: Int
        /// The log's length from which it is brought to an end and started over.
        var restartAtFrames: Int
        /// The most frames the writer copies itself, but at twice `restartAtFrames`.
        var finishAtMostFrames: Int

        static let standard = Lengths(passiveEveryFrames: 16_000, restartAtFrames: 24_000, finishAtMostFrames: 512)
    }

    private let path: String
    private let queue = DispatchQueue(label: "patron.sqlite.checkpoint")
    private let lock = NSLock()
    /// The background's own connection, opened at its first pass; nil once closed.
    private var connection: DatabaseQueue?
    private var closed = false
    private var running = false
    /// The log's length when the last background pass began.
    private var framesAtLastPass = 0
    /// How many of the log's frames are known to be copied.
    private var framesCopied = 0
    /// The log's length at the last commit, to see it start over.
    private var framesAtLastCommit = 0
    /// How many times the log was seen to start over: a pass's report on an earlier log is dropped.
    private var logGeneration = 0

    private let lengths: Lengths

    init(path: String, lengths: Lengths) {
        self.path = path
        self.lengths = lengths
    }

    /// Turns off the automatic checkpoint of the writer connection `db` and has its commits
    /// reported here.
    func watch(writer db: Database) throws {
        try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        // The hook keeps a reference of its own: the writer connection may commit (and close,
        // checkpointing) after the store that made it is gone.
        let context = Unmanaged.passRetained(self).toOpaque()
        sqlite3_wal_hook(db.sqliteConnection, { context, connection, _, frames in
            let checkpointer = Unmanaged<WALCheckpointer>.fromOpaque(context!).takeUnretainedValue()
            checkpointer.committed(logFrames: Int(frames), writer: connection)
            return SQLITE_OK
        }, context)
    }

    /// Stops the background passes and closes their connection.
    func close() {
        lock.withLock {
            closed = true
            connection = nil
        }
    }

    /// Called on the writer connection after each commit, with the log's length in frames.
    private func committed(logFrames: Int, writer: OpaquePointer?) {
        let action: (background: Int?, finish: Bool) = lock.withLock {
            guard !closed else { return (nil, false) }
            if logFrames < framesAtLastCommit {  // the log started over
                framesAtLastPass = 0
                framesCopied = 0
                logGeneration += 1
            }
            framesAtLastCommit = logFrames
            guard !running else { return (nil, false) }
            let finish = logFrames >= 2 * lengths.restartAtFrames
                || (logFrames >= lengths.restartAtFrames && logFrames - framesCopied <= lengths.finishAtMostFrames)
            let background = !finish && (logFrames >= lengths.restartAtFrames
                                         || logFrames - framesAtLastPass >= lengths.passiveEveryFrames)
            guard background else { return (nil, finish) }
            running = true
            framesAtLastPass = logFrames
            return (logGeneration, finish)
        }
        if action.finish {
            // Passive: if the background took the checkpoint lock in the meantime, this returns
            // at once and the next commit tries again.
            var copied: Int32 = 0
            if sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, nil, &copied) == SQLITE_OK {
                lock.withLock { framesCopied = max(framesCopied, Int(copied)) }
            }
        }
        if let generation = action.background {
            queue.async { self.pass(onLog: generation) }
        }
    }

    /// A passive checkpoint on the background's connection, begun on the log of `generation`.
    private func pass(onLog generation: Int) {
        defer { lock.withLock { running = false } }
        let connection: DatabaseQueue? = lock.withLock {
            guard !closed else { return nil }
            if self.connection == nil {
                var configuration = Configuration()
                configuration.label = "patron.sqlite.checkpoint"
                configuration.prepareDatabase { db in
                    // The database file is synced before the log may start over.
                    try db.execute(sql: "PRAGMA synchronous = FULL")
                }
                self.connection = try? DatabaseQueue(path: path, configuration: configuration)
            }
            return self.connection
        }
        // A failed pass (the file busy, say) leaves the frames for the next pass or the writer.
        guard let copied = try? connection?.writeWithoutTransaction({ db in try db.checkpoint(.passive) })
        else { return }
        lock.withLock {
            // The writer may have started the log over once the pass had copied every frame.
            if generation == logGeneration { framesCopied = copied.checkpointedFrameCount }
        }
    }
}
