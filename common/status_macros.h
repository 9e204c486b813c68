// Status propagation macros in absl's vocabulary. absl 20220623 (Debian's) has
// none of its own. Used by every layer; depends on absl only.
#ifndef PATCHFARM_COMMON_STATUS_MACROS_H_
#define PATCHFARM_COMMON_STATUS_MACROS_H_

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PF_STATUS_CONCAT_INNER_(a, b) a##b
#define PF_STATUS_CONCAT_(a, b) PF_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define PF_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::absl::Status pf_status_ = (expr);           \
    if (!pf_status_.ok()) return pf_status_;      \
  } while (0)

// `lhs = value of rexpr` (an absl::StatusOr<T>), or returns its error.
#define PF_ASSIGN_OR_RETURN(lhs, rexpr) \
  PF_ASSIGN_OR_RETURN_IMPL_(PF_STATUS_CONCAT_(pf_statusor_, __LINE__), lhs, rexpr)

#define PF_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

// Crashes with a message when `cond` is false. For "cannot happen" only: never
// for validating input from a file, a peer or a user.
#define PF_CHECK(cond)                                                        \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: PF_CHECK failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                    \
      std::abort();                                                           \
    }                                                                         \
  } while (0)

#endif  // PATCHFARM_COMMON_STATUS_MACROS_H_
