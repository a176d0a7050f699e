// The slide worker's own half of its sandbox, entered after the libraries and fonts it needs are
// loaded and before the PDF is parsed (the parent's half, set between fork and exec, is in
// deck_render.cpp). slides/README.md says what each layer is for and why each system call is
// allowed.
#pragma once

#include <string>

namespace gramothi::slides {

struct SandboxOutcome {
  bool ok = false;         // no_new_privs and the seccomp filter are on; false: do not go on
  std::string error;       // why not
  int landlock_errno = 0;  // 0: Landlock is on; else why the kernel refused it (ENOSYS: none)
};

// Not dumpable: the process's /proc/PID files become root's, and processes of its uid (other
// daemons sharing `nobody`, when the server is root) can neither ptrace it nor read its memory
// (the deck) or environment. Call before the deck is read; enter_sandbox() makes sure of it.
bool make_undumpable();

// Undumpable, no_new_privs, then Landlock (reads beneath the library, share and font folders
// only, no writes anywhere) where the kernel offers it, then the seccomp filter. Irreversible.
SandboxOutcome enter_sandbox();

}  // namespace gramothi::slides
