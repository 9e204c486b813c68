// The process's limit on open files. A block of a tree package is diffed and
// applied with every file it reads open at once (core/tree/tree_diff.cc,
// chain_resolver.cc): a release that edits or renames thousands of small
// files needs thousands of descriptors, past the soft limit of 1,024 that
// most shells and units give.
#ifndef PATCHFARM_COMMON_OPEN_FILE_LIMIT_H_
#define PATCHFARM_COMMON_OPEN_FILE_LIMIT_H_

namespace patchfarm {

// Raises the soft limit on open files to the hard one (as Go's runtime does
// for every program); does nothing where that fails. Call once at the start
// of main.
void RaiseOpenFileLimit();

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_OPEN_FILE_LIMIT_H_
