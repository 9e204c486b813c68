// Interrupting a command line tool (Ctrl-C, kill, a closed terminal) removes
// the temporary files and directories it registered (common/interrupt_paths.h)
// before it ends, so that a long diff or apply cut short leaves nothing
// behind beside its output.
#ifndef PATCHFARM_CLIENT_INTERRUPT_H_
#define PATCHFARM_CLIENT_INTERRUPT_H_

namespace patchfarm {

// From this call on, SIGINT, SIGTERM and SIGHUP end the process as they
// would have (killed by that signal) after removing every registered path and
// printing "<program>: interrupted" on stderr. Call it first in main, before
// any other thread starts: it blocks those signals in the calling thread,
// which threads started later inherit, and waits for them on a thread of its
// own. A signal the process was started ignoring (nohup) stays ignored.
// Call it at most once.
void RemoveTemporariesOnInterrupt(const char* program);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_INTERRUPT_H_
