// Relative paths inside a release tree, as manifests and packages store them:
// '/'-separated, no leading '/', no empty, "." or ".." components, no NUL, and
// never under the reserved top-level directory ".patchfarm" (in-place apply's
// state). Validation is purely lexical; the file system checks (symlinked
// parents, device files) live where the tree is read.
// Stateless functions; thread-safe.
#ifndef PATCHFARM_CORE_TREE_TREE_PATH_H_
#define PATCHFARM_CORE_TREE_TREE_PATH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

// The reserved top-level directory of an install.
inline constexpr char kStateDirName[] = ".patchfarm";
inline constexpr size_t kMaxTreePathBytes = 4096;
inline constexpr size_t kMaxNameBytes = 255;

// InvalidArgument naming the problem if `path` is not a valid tree path.
absl::Status ValidateTreePath(absl::string_view path);

// InvalidArgument unless `target`, the target of a symlink at `link_path`, is a
// relative path that stays inside the tree however the tree's other symlinks
// resolve: ".." components only at the start, no more of them than the link
// has parent directories (so "lib.so -> lib.so.1" and "bin/x -> ../lib/x"
// pass; "/etc/passwd", "../../x" at the top and "a/../b" do not).
absl::Status ValidateSymlinkTarget(absl::string_view link_path, absl::string_view target);

// InvalidArgument unless `name` is a plain file name for <install>/hotfix/:
// 1-255 bytes, no '/', NUL or control bytes, not starting with '.' (so not
// ".", ".." nor ".patchfarm"), and none of ",:" (the updater's marker lists
// hotfixes as "name:sha256,...").
absl::Status ValidateHotfixName(absl::string_view name);

// Whether the file name `name` is named as AtomicFileWriter (common/file.h)
// names its temporary files: <name>.tmp-XXXXXX. The updater removes such
// files from hotfix/ and its state as a killed run's leftovers.
bool IsTemporaryFileName(absl::string_view name);

// ValidateHotfixName, and InvalidArgument for a name IsTemporaryFileName (the
// updater would remove the file on every run) or "replace-" and 16 hex
// digits (the site's name for a replacement's file, publisher/site_plan.h):
// for hotfixes being submitted.
// Published indexes are read with ValidateHotfixName alone.
absl::Status ValidateNewHotfixName(absl::string_view name);

// "a/b/c" -> "a/b"; "a" -> "".
absl::string_view ParentPath(absl::string_view path);

// Number of components: "a" -> 1, "a/b" -> 2.
int PathDepth(absl::string_view path);

// `root` + "/" + `relative`.
std::string JoinPath(absl::string_view root, absl::string_view relative);

// A path quoted for messages: control bytes, quotes and backslashes are escaped
// as \xNN; other bytes (UTF-8 names) pass through.
std::string QuotePath(absl::string_view path);

// QuotePath of at most the first 64 bytes of `text` (cut before a UTF-8
// character, never inside one), with "..." and the length when cut: for
// echoing a field from the network in an error, which must stay short
// whatever the field holds.
std::string ShortPath(absl::string_view text);

// `text` with the bytes a terminal would obey escaped as \xNN: control bytes,
// DEL, and the C1 controls U+0080-U+009F (in UTF-8, 0xc2 0x80-0x9f, which
// some terminals take as ESC sequences). For text from the network that is
// logged or shown to operators.
std::string EscapeControls(absl::string_view text);

// The longest prefix of `text` of at most `max_bytes` that is valid UTF-8
// (it ends before the first invalid byte, and never inside a character): what
// may go into a protobuf string field, whose parser refuses anything else.
absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_TREE_PATH_H_
