// The shared file and its mapping: careful creation, hostile-file checks on open, and the guard
// that keeps a peer's ftruncate from killing our process with SIGBUS.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "shmem_layout.h"

namespace ensight::shmem {

struct GuardSlot;

struct CreateOptions {
  // Where the private 0700 directory is made; empty: /dev/shm when usable (tmpfs, no disk
  // write-back), else $TMPDIR, else /tmp.
  std::string directory;
  uint64_t size = kDefaultFileSize;
};

// What went wrong, for a message: the status plus the failing call and its errno, if any.
struct FileError {
  Status status = Status::kOk;
  int sys_errno = 0;
  const char* operation = "";
  uint64_t observed_size = 0;  // for BAD_FILE_SIZE
};

// A mapped stream file. Reference-counted because zero-copy views handed to JavaScript may outlive
// the object that opened it: the creator holds one reference, each live view another, and the
// mapping is unmapped when the last goes. Removing the file is separate (remove_file), so the
// name disappears at close even while a detached view's finalizer is still pending.
class Mapping {
 public:
  // Creates `<dir>/ensight-shmem-XXXXXX/` (mkdtemp: 0700) and in it `shmem_<pid+i>.bin`,
  // i = 0..99, the first free name, with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, sized with
  // ftruncate (zero-filled), then maps it. remove_file() deletes both.
  static Mapping* create(const CreateOptions& options, FileError* error);
  // Opens an existing stream file (O_NOFOLLOW: a symlink planted at the path is refused), checks
  // it is a regular file whose size gives a valid layout, and maps it.
  static Mapping* open(const std::string& path, FileError* error);

  uint8_t* base() const { return base_; }
  const Layout& layout() const { return layout_; }
  const std::string& path() const { return path_; }
  uint8_t* header(size_t buffer) const { return base_ + layout_.header_offset(buffer); }
  uint8_t* payload(size_t buffer) const { return base_ + layout_.payload_offset(buffer); }

  // True once a SIGBUS in this mapping was caught: the file shrank under us. The guard has then
  // replaced the mapping with private zero pages, so every later access is safe but meaningless;
  // operations report BAD_FILE_SIZE from then on.
  bool truncated() const { return truncated_.load(std::memory_order_acquire); }
  // fstat: BAD_FILE_SIZE if the file is now smaller than the layout we mapped (one syscall; used
  // on attach and when a wait times out, never per frame).
  [[nodiscard]] Status check_size();

  void retain() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // acq_rel: the last release must see every other holder's accesses finished before unmapping.
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Unlinks the file and the private directory this process created (idempotent; no-op for
  // files opened with open()).
  void remove_file();

  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

 private:
  Mapping() = default;
  ~Mapping();
  bool map(int fd, uint64_t size, FileError* error);

  int fd_ = -1;
  uint8_t* base_ = nullptr;
  Layout layout_;
  std::string path_;
  std::string private_dir_;  // non-empty when we created it
  bool owns_file_ = false;
  GuardSlot* guard_slot_ = nullptr;  // ours in the SIGBUS guard's registry
  // Set (release) by the SIGBUS handler once it has put zero pages over the mapping; read with
  // acquire in truncated(), so a thread that sees the flag also sees the replaced mapping.
  std::atomic<bool> truncated_{false};
  // Relaxed increments (a new holder already holds a reference through which it got here);
  // acq_rel on release, see release().
  std::atomic<int> refs_{1};
};

// Exposed for tests: whether the SIGBUS guard is installed in this process, and how many mappings
// it guards now.
bool sigbus_guard_installed();
size_t sigbus_guarded_mappings();

}  // namespace ensight::shmem
