// Helpers shared by the tests that write files.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace chokepoint::test {

/// A fresh directory under the build's test scratch directory, removed when it goes out of scope.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string &tag) {
        path =
            std::filesystem::path(CHOKEPOINT_TEST_TMP) / (tag + "_" + std::to_string(::getpid()));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    /// The names of the files in it, sorted.
    std::vector<std::string> names() const {
        std::vector<std::string> v;
        for (const auto &e : std::filesystem::directory_iterator(path))
            v.push_back(e.path().filename().string());
        std::sort(v.begin(), v.end());
        return v;
    }
};

/// A file's bytes.
inline std::string slurp(const std::filesystem::path &p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

} // namespace chokepoint::test
