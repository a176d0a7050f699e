#include "worker_sandbox.hpp"

#include <errno.h>
#include <fcntl.h>
#include <fontconfig/fontconfig.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace gramothi::slides {
namespace {

// Folders the worker may read beneath once sandboxed: libraries (glibc loads gconv modules
// late), data files (poppler's CMaps and unicode maps, fontconfig's conf.avail), fontconfig's
// configuration. Font folders and font caches are added from fontconfig's own list.
const char *const kReadable[] = {"/usr/lib",         "/usr/lib64",     "/lib",
                                 "/lib64",           "/usr/local/lib", "/usr/share",
                                 "/usr/local/share", "/etc/fonts",     "/etc/ld.so.cache"};

// Landlock: no writes anywhere, reads only beneath kReadable and fontconfig's folders. Returns 0
// or the errno that says why the kernel does not restrict us (ENOSYS, EOPNOTSUPP: no Landlock).
int restrict_filesystem() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) return errno ? errno : ENOSYS;
  uint64_t handled =
      LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
      LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
      LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
      LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
      LANDLOCK_ACCESS_FS_MAKE_SYM;
#ifdef LANDLOCK_ACCESS_FS_REFER
  if (abi >= 2) handled |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
  if (abi >= 3) handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
  struct landlock_ruleset_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.handled_access_fs = handled;
  int ruleset = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
  if (ruleset < 0) return errno;

  std::set<std::string> paths(std::begin(kReadable), std::end(kReadable));
  FcConfig *fc = FcConfigGetCurrent();
  for (FcStrList *list : {FcConfigGetFontDirs(fc), FcConfigGetCacheDirs(fc)}) {
    if (!list) continue;
    while (FcChar8 *dir = FcStrListNext(list))
      paths.insert(reinterpret_cast<const char *>(dir));
    FcStrListDone(list);
  }
  for (const auto &path : paths) {
    int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) continue;  // not on this system
    struct stat st;
    struct landlock_path_beneath_attr rule;
    memset(&rule, 0, sizeof rule);
    rule.parent_fd = fd;
    rule.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
      rule.allowed_access |= LANDLOCK_ACCESS_FS_READ_DIR;
    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    close(fd);
  }
  int result = syscall(SYS_landlock_restrict_self, ruleset, 0) == 0 ? 0 : errno;
  close(ruleset);
  return result;
}

// Allowed: what strace showed Poppler, cairo, FreeType, fontconfig, libwebp, GLib and glibc do
// while rendering the test decks, after the warm-up (grouped and justified in the README).
// Everything else kills the process; the parent then reports the page as stopped by the sandbox.
bool install_seccomp(std::string &error) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) {
    error = "seccomp_init failed";
    return false;
  }
  const int allowed[] = {
      // memory
      SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
      SCMP_SYS(madvise),
      // files it holds or may read (font files, CMaps; opening is restricted below)
      SCMP_SYS(read), SCMP_SYS(pread64), SCMP_SYS(readv), SCMP_SYS(lseek), SCMP_SYS(close),
      SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(statx),
      SCMP_SYS(fstatfs), SCMP_SYS(statfs), SCMP_SYS(getdents64), SCMP_SYS(readlink),
      SCMP_SYS(readlinkat), SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
      SCMP_SYS(fadvise64),
      // its output to the parent
      SCMP_SYS(write), SCMP_SYS(writev),
      // itself: exit, signals, locks, time, randomness for hash tables and malloc
      SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid),
      SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(rt_sigaction),
      SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
      SCMP_SYS(restart_syscall), SCMP_SYS(futex), SCMP_SYS(getrandom), SCMP_SYS(clock_gettime),
      SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(sched_yield),
      SCMP_SYS(sysinfo), SCMP_SYS(uname), SCMP_SYS(getrlimit)};
  bool ok = true;
  for (int call : allowed)
    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, call, 0);  // fails only for calls this arch lacks
  // Opening: read-only, never creating or truncating.
  const uint32_t writing = O_ACCMODE | O_CREAT | O_TRUNC;
  ok &= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                         SCMP_A2_32(SCMP_CMP_MASKED_EQ, writing, 0)) == 0;
  seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                   SCMP_A1_32(SCMP_CMP_MASKED_EQ, writing, 0));
  // openat2's flags are behind a pointer: "not implemented" sends glibc back to openat.
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
  // Signals to itself only (abort() raises SIGABRT with tgkill).
  const uint32_t self = static_cast<uint32_t>(getpid());
  ok &= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0_32(SCMP_CMP_EQ, self)) ==
        0;
  ok &=
      seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, SCMP_A0_32(SCMP_CMP_EQ, self)) == 0;
  // fcntl: descriptor and status flags only. F_SETOWN/F_SETSIG with O_ASYNC would have each
  // read of our stdout by the parent send any signal to any process of our uid (the server
  // itself when it is not root), and locks, leases and notifications reach other processes.
  for (int cmd : {F_GETFD, F_SETFD, F_GETFL})
    ok &= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, SCMP_A1_32(SCMP_CMP_EQ, cmd)) ==
          0;
  ok &= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 2, SCMP_A1_32(SCMP_CMP_EQ, F_SETFL),
                         SCMP_A2_32(SCMP_CMP_MASKED_EQ, O_ASYNC, 0)) == 0;
  // isatty() on stderr, which GLib and Poppler ask before printing a warning.
  ok &= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                         SCMP_A1_32(SCMP_CMP_EQ, TCGETS)) == 0;
  // Reading its own limits (glibc does, for the stack); setting any is refused.
  ok &= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2, SCMP_A0_32(SCMP_CMP_EQ, 0),
                         SCMP_A2_64(SCMP_CMP_EQ, 0)) == 0;
  // No threads are needed and RLIMIT_NPROC 0 refuses them anyway; clone3 answers "not
  // implemented" so that a library trying one falls back to clone, which kills, like fork.
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (!ok) {
    error = "a seccomp rule cannot be added";
  } else if (int rc = seccomp_load(ctx); rc != 0) {
    error = std::string("the seccomp filter cannot be loaded: ") + strerror(-rc);
    ok = false;
  }
  seccomp_release(ctx);
  return ok;
}

}  // namespace

bool make_undumpable() {
  return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
}

SandboxOutcome enter_sandbox() {
  SandboxOutcome out;
  if (!make_undumpable()) {
    out.error = std::string("PR_SET_DUMPABLE: ") + strerror(errno);
    return out;
  }
  // The parent set it already (before exec); again, so the worker is safe started by hand.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    out.error = std::string("no_new_privs: ") + strerror(errno);
    return out;
  }
  out.landlock_errno = restrict_filesystem();
  out.ok = install_seccomp(out.error);
  return out;
}

}  // namespace gramothi::slides
