#include "shmem_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <new>

namespace ensight::shmem {

// --- SIGBUS guard ----------------------------------------------------------------------------
//
// A peer that ftruncates the file while we have it mapped turns any access past the new end into
// SIGBUS, which would kill the runtime, including reads JavaScript makes through a zero-copy view
// that no native code can wrap. The guard is a process-wide SIGBUS handler that knows our
// mappings: on a fault inside one, it maps private anonymous zero pages over the whole mapping at
// the same address (MAP_FIXED), flags the mapping as truncated and returns; the faulting access
// re-executes and reads zeros. Faults anywhere else go to the handler that was installed before
// ours (or to the default action). mmap is a plain system call on Linux and safe to make here.
// One guarded mapping (declared in the header so a Mapping can hold its slot).
struct GuardSlot {
  std::atomic<uintptr_t> begin{0};  // 0: free. Written last on register, first on unregister.
  std::atomic<uintptr_t> end{0};  // relaxed: published by the release store of begin
  std::atomic<std::atomic<bool>*> truncated{nullptr};  // relaxed: likewise
};

namespace {

// The registry of guarded mappings: chunks of slots in a singly linked list that only grows.
// Slots never move and chunks are never freed, so the handler can walk the list with plain
// atomic loads while another thread registers (no lock, no allocation in the handler), and there
// is no fixed limit: a chunk is added when every slot is taken. Memory stays bounded by the most
// mappings ever live at once (slots are reused).
constexpr size_t kSlotsPerChunk = 64;

struct GuardChunk {
  GuardSlot slots[kSlotsPerChunk];
  // release on append (the chunk's zeroed slots are complete before it is reachable), acquire in
  // the walks.
  std::atomic<GuardChunk*> next{nullptr};
};

GuardChunk g_first_chunk;
std::mutex g_register_mutex;  // registrations only; the handler reads the atomics
struct sigaction g_previous_action;
std::atomic<bool> g_installed{false};

void on_sigbus(int signo, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (GuardChunk* chunk = &g_first_chunk; chunk; chunk = chunk->next.load(std::memory_order_acquire)) {
    for (auto& slot : chunk->slots) {
      // acquire pairs with the release store of begin in register_mapping: end and truncated are set.
      const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
      const uintptr_t end = slot.end.load(std::memory_order_relaxed);
      if (begin == 0 || address < begin || address >= end) continue;
      void* replaced = mmap(reinterpret_cast<void*>(begin), end - begin, PROT_READ | PROT_WRITE,
                            MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (replaced != MAP_FAILED) {
        if (auto* flag = slot.truncated.load(std::memory_order_relaxed)) flag->store(true, std::memory_order_release);
        return;
      }
      goto not_ours;
    }
  }
not_ours:
  if (g_previous_action.sa_flags & SA_SIGINFO) {
    g_previous_action.sa_sigaction(signo, info, context);
  } else if (g_previous_action.sa_handler != SIG_DFL && g_previous_action.sa_handler != SIG_IGN) {
    g_previous_action.sa_handler(signo);
  } else {
    // Not ours and nobody else's: restore the default action; the access faults again and the
    // process ends as it would have without us.
    signal(SIGBUS, SIG_DFL);
  }
}

void install_guard() {
  if (g_installed.load(std::memory_order_acquire)) return;
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGBUS, &action, &g_previous_action) == 0) g_installed.store(true, std::memory_order_release);
}

// The slot now guarding [base, base + size), or nullptr when no slot could be had (out of memory:
// the caller refuses the mapping rather than run it unguarded).
GuardSlot* register_mapping(uint8_t* base, uint64_t size, std::atomic<bool>* truncated) {
  std::lock_guard<std::mutex> lock(g_register_mutex);
  install_guard();
  GuardChunk* chunk = &g_first_chunk;
  for (;;) {
    for (auto& slot : chunk->slots) {
      if (slot.begin.load(std::memory_order_relaxed) != 0) continue;
      slot.truncated.store(truncated, std::memory_order_relaxed);
      slot.end.store(reinterpret_cast<uintptr_t>(base) + size, std::memory_order_relaxed);
      slot.begin.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
      return &slot;
    }
    GuardChunk* next = chunk->next.load(std::memory_order_relaxed);  // the mutex orders our own writes
    if (!next) {
      next = new (std::nothrow) GuardChunk();
      if (!next) return nullptr;
      chunk->next.store(next, std::memory_order_release);
    }
    chunk = next;
  }
}

void unregister_mapping(GuardSlot* slot) {
  if (!slot) return;
  std::lock_guard<std::mutex> lock(g_register_mutex);
  slot->begin.store(0, std::memory_order_release);
  slot->truncated.store(nullptr, std::memory_order_relaxed);
}

size_t registered_mappings() {
  std::lock_guard<std::mutex> lock(g_register_mutex);
  size_t count = 0;
  for (GuardChunk* chunk = &g_first_chunk; chunk; chunk = chunk->next.load(std::memory_order_relaxed))
    for (auto& slot : chunk->slots) count += slot.begin.load(std::memory_order_relaxed) != 0;
  return count;
}

std::string default_base_directory() {
  struct stat st {};
  if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
  if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp) return tmp;
  return "/tmp";
}

FileError fail(Status status, const char* operation, int sys_errno = errno) {
  return FileError{status, sys_errno, operation, 0};
}

}  // namespace

bool sigbus_guard_installed() { return g_installed.load(std::memory_order_acquire); }
size_t sigbus_guarded_mappings() { return registered_mappings(); }

// --- Mapping -------------------------------------------------------------------------------

Mapping* Mapping::create(const CreateOptions& options, FileError* error) {
  Layout layout;
  if (layout_for_file_size(options.size, &layout) != Status::kOk) {
    *error = FileError{Status::kBadFileSize, 0, "size", options.size};
    return nullptr;
  }
  std::string dir = (options.directory.empty() ? default_base_directory() : options.directory) + "/ensight-shmem-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    *error = fail(Status::kUnableToOpenFile, "mkdtemp");
    return nullptr;
  }
  int fd = -1;
  std::string path;
  const pid_t pid = getpid();
  for (int i = 0; i < 100 && fd < 0; ++i) {
    path = dir + "/shmem_" + std::to_string(static_cast<long long>(pid) + i) + ".bin";
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    *error = fail(Status::kUnableToOpenFile, "open");
    rmdir(dir.c_str());
    return nullptr;
  }
  auto* mapping = new Mapping();
  mapping->path_ = path;
  mapping->private_dir_ = dir;
  mapping->owns_file_ = true;
  if (ftruncate(fd, static_cast<off_t>(options.size)) != 0) {
    *error = fail(Status::kUnableToMapFile, "ftruncate");
    close(fd);
    mapping->remove_file();
    mapping->release();
    return nullptr;
  }
  if (!mapping->map(fd, options.size, error)) {
    mapping->remove_file();
    mapping->release();
    return nullptr;
  }
  return mapping;
}

Mapping* Mapping::open(const std::string& path, FileError* error) {
  // O_NONBLOCK: opening a FIFO planted at the path must not hang us; we refuse it below anyway.
  const int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *error = fail(Status::kUnableToOpenFile, "open");
    return nullptr;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = fail(Status::kUnableToOpenFile, "fstat: not a regular file", errno);
    close(fd);
    return nullptr;
  }
  auto* mapping = new Mapping();
  mapping->path_ = path;
  if (!mapping->map(fd, static_cast<uint64_t>(st.st_size), error)) {
    mapping->release();
    return nullptr;
  }
  return mapping;
}

bool Mapping::map(int fd, uint64_t size, FileError* error) {
  fd_ = fd;
  if (layout_for_file_size(size, &layout_) != Status::kOk) {
    *error = FileError{Status::kBadFileSize, 0, "size", size};
    return false;
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    *error = fail(Status::kUnableToMapFile, "mmap");
    return false;
  }
  base_ = static_cast<uint8_t*>(base);
  guard_slot_ = register_mapping(base_, size, &truncated_);
  if (!guard_slot_) {
    // Unguarded, a peer's ftruncate could kill the process: refuse the mapping instead.
    *error = FileError{Status::kMemoryAllocError, ENOMEM, "registering the mapping with the SIGBUS guard", 0};
    return false;
  }
  // Checked again after mapping: a peer may have shrunk the file between fstat and mmap.
  if (check_size() != Status::kOk) {
    *error = FileError{Status::kBadFileSize, 0, "size changed while mapping", size};
    return false;
  }
  return true;
}

Status Mapping::check_size() {
  if (truncated()) return Status::kBadFileSize;
  struct stat st {};
  if (fstat(fd_, &st) != 0 || static_cast<uint64_t>(st.st_size) < layout_.file_size) return Status::kBadFileSize;
  return Status::kOk;
}

void Mapping::remove_file() {
  if (!owns_file_) return;
  owns_file_ = false;
  unlink(path_.c_str());
  rmdir(private_dir_.c_str());
}

Mapping::~Mapping() {
  unregister_mapping(guard_slot_);
  if (base_) munmap(base_, layout_.file_size);
  if (fd_ >= 0) close(fd_);
}

}  // namespace ensight::shmem
