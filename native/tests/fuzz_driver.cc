// Stand-in for libFuzzer where clang is not available: feeds LLVMFuzzerTestOneInput random and
// mutated inputs for a bounded time (under g++ -fsanitize=address,undefined).
//
//   fuzz_driver SECONDS [SEED]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "../shmem_handoff.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// A plausible pair of headers (written block, then initial), the seed the mutations start from.
std::vector<uint8_t> seed_input() {
  std::vector<uint8_t> input(1 + 2 * ensight::shmem::kHeaderSize + 12, 0);
  const uint32_t header[5] = {7, 20, 10, 0, 10};
  std::memcpy(input.data() + 1, header, sizeof header);
  input[1 + ensight::shmem::kStateOffset] = ensight::shmem::kWritten;
  input[1 + ensight::shmem::kHeaderSize + ensight::shmem::kStateOffset] = ensight::shmem::kInitial;
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 10;
  std::mt19937_64 rng(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1);
  const std::vector<uint8_t> seed = seed_input();
  const int64_t end = ensight::shmem::monotonic_now_ns() + static_cast<int64_t>(seconds * 1e9);
  uint64_t runs = 0;
  std::vector<uint8_t> input;
  while (ensight::shmem::monotonic_now_ns() < end) {
    if (rng() % 4 == 0) {
      input.resize(rng() % 80);
      for (auto& b : input) b = static_cast<uint8_t>(rng());
    } else {
      input = seed;
      const int edits = 1 + static_cast<int>(rng() % 6);
      for (int e = 0; e < edits; ++e) {
        const size_t at = rng() % input.size();
        switch (rng() % 4) {
          case 0: input[at] = static_cast<uint8_t>(rng()); break;
          case 1: input[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
          case 2: input[at] = static_cast<uint8_t>(rng() % 5); break;  // a valid state value
          default: input[at] = rng() % 2 ? 0xFF : 0x00; break;
        }
      }
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++runs;
  }
  std::printf("fuzz_driver: %llu inputs in %.0f s\n", static_cast<unsigned long long>(runs), seconds);
  std::printf("fuzz: 1 passed, 0 failed\n");
  return 0;
}
