// The updater's marker, <install>/.patchfarm/marker (publisher/SITE.md): what
// the install is, as lines "key=value". The updater writes product, channel,
// platform, version, manifest (the install's manifest digest, hex), serial
// (the last accepted index), hotfixes ("name:sha256,..."), self_update, and
// during a switch pending_version, pending_manifest and pending_package; a
// package manager may write self_update=false. Unknown keys are kept.
// Used by the updater (updater.cc). Stateless functions; thread-safe.
#ifndef PATCHFARM_UPDATER_MARKER_H_
#define PATCHFARM_UPDATER_MARKER_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace patchfarm {

struct Marker {
  std::map<std::string, std::string> fields;

  // The value of `key`, "" if absent.
  std::string Get(const std::string& key) const;
};

// The marker at `path`: one field per non-empty line, split at the first
// '=' (a later line wins over an earlier one with the same key). A missing
// file is an empty marker. DataLoss naming `path` for a line without '=';
// the error of reading it otherwise.
absl::StatusOr<Marker> ReadMarker(const std::string& path);

// The file's bytes for `marker`: "key=value\n" per field, sorted by key, so
// that ReadMarker gives the same fields back. InvalidArgument, naming the
// key, for a key holding '=' or a newline or a value holding a newline
// (the file would read back otherwise).
absl::StatusOr<std::string> EncodeMarker(const Marker& marker);

}  // namespace patchfarm

#endif  // PATCHFARM_UPDATER_MARKER_H_
