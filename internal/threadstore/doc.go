// Package threadstore is the durable store behind threads: each thread's
// metadata ([Meta]), listed and paged by [Store.List], and each thread's
// append-only log of records ([Store.Append], [Store.Records]). Records are
// opaque JSON objects; the thread engine decides what they mean (turns,
// items, settings changes…).
//
// # Guarantees
//
// When Put, Update, Delete, Append or Fork returns nil, the change is on
// disk (fsync), and survives the process being killed and, as far as the
// disk honours fsync, a power cut. A crash leaves at most a torn tail,
// which is never read as data. Readers only ever see durable data: Get,
// List and Records show a write once it is acknowledged, not before.
//
// # Layout
//
//	$dir/LOCK            advisory lock (flock): one process per store
//	$dir/journal.log     every write since the last checkpoint
//	$dir/index.log       metadata snapshots and deletions
//	$dir/threads/<f>.log one thread's records; <f> is the id, with
//	                     uppercase letters and '_' escaped as _XX
//	$dir/tmp/            Fork copies not yet committed
//
// Every line of every file is "<crc32c as 8 hex digits> <body>\n".
//
//	index.log body:  {"put":{"id":"…","createdAt":<unix ns>,…}} or {"del":"<id>"}
//	thread log body: <seq> <record as compact JSON>
//	journal body:    i <offset> <index line> | t <id> <offset> <thread line>
//	                 | r <id> | m <id> <tmp name> | c <entries in the batch>
//
// A thread log is only ever removed by Delete; Open clears tmp/.
//
// # Writes: journal and group commit
//
// Append requires the thread to exist (Put first), so every log has
// metadata; Fork writes its copy in tmp/ and the commit of the new
// thread's metadata moves it into threads/.
//
// One goroutine writes. Concurrent callers' writes are gathered into a
// batch, written to journal.log with a commit marker in one write, and made
// durable by one fsync of the journal, however many threads they touch;
// then the same lines are copied to index.log and the thread logs without
// fsync. A checkpoint (when the journal passes Options.CheckpointBytes, 256
// thread logs are dirty, or at Close) fsyncs those files, the directory
// when files were created or removed, and empties the journal. Open
// replays the committed batches of a non-empty journal: each file the
// journal touched is cut back to the journal's first offset for it and its
// lines are written again, which repairs lost, torn or garbled tails of
// unsynced files. index.log is compacted (rewritten, fsynced, renamed, and
// the directory fsynced) at a checkpoint where it has grown past twice the
// size of its live snapshots.
//
// # Reads
//
// Metadata lives in memory: a map and one slice per sort key, sorted by
// (time, id), so that List is a binary search to the cursor followed by a
// walk. A thread log is read from disk on demand; opening one reads only
// its last lines, and Records streams it from the start, checking every
// line's checksum and that sequence numbers run 1, 2, 3, ….
//
// # Corruption
//
// A bad line with no good line after it is a torn tail: it is ignored, and
// cut off before the file is appended to. A bad line followed by good lines
// means acknowledged data was damaged: [Store.Records] and [Open] return a
// [*CorruptError] naming the file and offset (Open can skip such index
// lines with Options.SkipCorrupt).
package threadstore
