// A main for fuzz targets built without libFuzzer: runs every file of the given files
// and folders through LLVMFuzzerTestOneInput once, so the seed corpora and regression
// inputs run as ordinary tests with any compiler.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size);

int main(int argc, char** argv) {
  std::size_t ran = 0;
  auto run = [&](std::filesystem::path const& p) {
    std::ifstream in{p, std::ios::binary};
    std::vector<char> bytes{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    LLVMFuzzerTestOneInput(reinterpret_cast<std::uint8_t const*>(bytes.data()), bytes.size());
    ++ran;
  };
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p{argv[i]};
    if (std::filesystem::is_directory(p)) {
      for (auto const& entry : std::filesystem::recursive_directory_iterator{p})
        if (entry.is_regular_file()) run(entry.path());
    } else {
      run(p);
    }
  }
  std::printf("replayed %zu inputs\n", ran);
  return ran == 0 ? 1 : 0;  // an empty corpus is a broken test, not a pass
}
