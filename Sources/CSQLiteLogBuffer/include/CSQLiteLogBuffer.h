// A write buffer for SQLite's write-ahead log, for the one connection that writes it.
//
// SQLite writes each log frame in two calls (its 24-byte header, then the page), so a commit of a
// few hundred pages is a few hundred `pwrite` calls, each going through the file system's
// per-page work for the two or three pages a frame straddles. The buffer gathers a transaction's
// frames in memory and hands them to the file in a few large writes when SQLite syncs the log at
// commit. It writes them out earlier whenever anything reads, sizes, truncates or closes the log,
// and before the connection gives up the log's write lock, so that frames of a rolled-back
// transaction never outlive it and land over another writer's.
//
// A write SQLite considers done is then in memory until that sync, as it would be in the kernel's
// page cache until then: nothing SQLite relies on before the sync changes, as long as the
// connection syncs the log at every commit (`synchronous = FULL` or `EXTRA`), since SQLite syncs
// before it publishes a commit to readers. That is why the buffer is turned on for one connection
// at a time, and never by default.
//
// The same VFS starts the kernel's writeback of a database file every 256 KiB written into it (the
// pages a checkpoint copies back from the log), so that the checkpoint's sync does not send them to
// the disk all at once, in front of the syncs of commits (docs/PERFORMANCE.md). It only starts
// writes the file would make anyway; when they are durable is still the sync's to say. It does so
// through one descriptor per file for the process, closed only when no connection has the file
// open: closing a descriptor drops the process's `fcntl` locks on the file, which SQLite relies on.
#ifndef PATRON_CSQLITELOGBUFFER_H
#define PATRON_CSQLITELOGBUFFER_H

struct sqlite3;

/// Makes SQLite's default VFS one whose log files can buffer their writes; a log's buffer is off
/// until `patron_log_buffer_enable` turns it on, and every other file is the previous default's.
/// First, if SQLite is not yet initialized, turns off its count of memory in use
/// (`SQLITE_CONFIG_MEMSTATUS`), a process-wide lock at every allocation. Safe to call more than
/// once and from any thread. Returns an SQLite result code.
int patron_log_buffer_install(void);

/// Turns on the buffer of the write-ahead log of `db`'s main database, which must already be open
/// (the connection in WAL mode, having read the database once). Only for a connection that syncs
/// the log at every commit. Returns SQLITE_OK, or SQLITE_NOTFOUND when the log is not open or was
/// not opened through the installed VFS.
int patron_log_buffer_enable(struct sqlite3 *db);

/// How many times the writeback of the database file at `path` was started since a connection of
/// the process last opened it with none open; 0 when none has it open.
long long patron_database_writeback_starts(const char *path);

#endif
