// The directory-tree forms of the CLI verbs: diff OLD_DIR NEW_DIR PACKAGE,
// apply OLD_DIR PACKAGE... OUT_DIR, apply --in-place INSTALL_DIR PACKAGE...,
// info PACKAGE, and recover INSTALL_DIR. Called by delta_commands.cc once it
// has seen directories or a package. Each returns an absl::Status; results go
// to stdout.
#ifndef PATCHFARM_CLIENT_TREE_COMMANDS_H_
#define PATCHFARM_CLIENT_TREE_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/tree/tree_diff.h"

namespace patchfarm {

absl::Status DiffTrees(const std::string& old_dir, const std::string& new_dir,
                       const std::string& package_path, const TreeDiffOptions& options);

absl::Status ApplyPackagesToNewTree(const std::string& old_dir,
                                    const std::vector<std::string>& packages,
                                    const std::string& out_dir);

absl::Status ApplyPackagesInPlace(const std::string& install_dir,
                                  const std::vector<std::string>& packages);

absl::Status DescribePackage(const std::string& package_path);

absl::Status RecoverInstallCommand(const std::string& install_dir);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_TREE_COMMANDS_H_
