// Package fuzzy implements the fuzzy file search methods of the app-server:
// fuzzyFileSearch and the experimental fuzzyFileSearch/sessionStart,
// sessionUpdate and sessionStop, with their sessionUpdated and
// sessionCompleted notifications.
//
//	svc := fuzzy.Register(srv, fuzzy.Options{Guard: guard})
//	defer svc.Close()
//
// # Pieces
//
// [Build] walks a root into an [Index]: directory reads run on a bounded
// pool of goroutines, .git is skipped, .gitignore and .ignore files are
// honoured at every level (and .git/info/exclude at the root), and
// symbolic links to directories are listed but not followed. Paths are
// kept as a few large slices, about 27 bytes per entry, names included.
//
// [ParsePattern] parses a query in the reference's syntax (words that must
// all match; 'exact, ^prefix, suffix$, !not). [Search] scores every entry
// in parallel chunks, keeps the best [MatchLimit] in bounded heaps, and
// computes the matched character positions only for those.
//
// Scores are the reference's: an fzf-style score below 1<<16 (16 per
// matched character, bonuses at word starts, after "/", at camelCase
// humps, for runs, penalties for gaps), plus tiers above it for a file
// whose name alone matches (1<<16), whose name is the query (3<<16), and
// for the shortest directory named as the query (2<<16). On a generated
// 100,000-file tree every result both servers return has the same score
// and indices.
//
// # Differences from the reference
//
//   - .git directories and files are never listed (the reference lists
//     their contents), and neither is the root itself (the reference lists
//     it as path "" for a blank or negative-only query).
//   - Relative roots are refused with -32600 "Invalid request:
//     AbsolutePathBuf deserialized without a base path" (the reference
//     resolves them against its working directory), and every root goes
//     through the path guard.
//   - Equal scores are ordered by shorter path, then path, and the
//     results are deterministic (the reference keeps an arbitrary 50 of
//     equal scores).
//   - Duplicate roots are searched once.
//   - A search cancelled by a newer one with the same cancellationToken
//     answers {"files":[]} (the reference answers with whatever it had
//     found so far).
//   - A session sends one sessionUpdated, for the latest query, then one
//     sessionCompleted, after its walk has finished; the reference streams
//     partial results while walking, may send an update after the
//     completion, and sends an unrequested empty update when its walk ends.
//   - One-shot searches reuse a recent index (see [Options.CacheTTL]); the
//     reference walks the tree on every request.
//   - Global git excludes (core.excludesFile) are not read.
package fuzzy
