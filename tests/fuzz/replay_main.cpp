// Runs the fuzz target (fuzz_config.cpp) without libFuzzer on files and directories named on the
// command line: each file is one input. Exit 0 when every input ends in a Model or an InputError;
// the target aborts on anything else. Used by ctest on tests/fuzz/crashes/ and the seed configs.
//
// Like libFuzzer, a watchdog ends the run (exit 1) when one input takes more than
// CHOKEPOINT_REPLAY_TIMEOUT_S seconds (default 20) or the process's resident memory exceeds
// CHOKEPOINT_REPLAY_RSS_MB (default 2048): some inputs make a parser loop while allocating, and
// the machine must not run out of memory.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

namespace fs = std::filesystem;

namespace {

std::mutex g_mutex;
std::string g_current;                         // input being run
std::chrono::steady_clock::time_point g_start; // when it started
std::atomic<bool> g_busy{false};

double env_or(const char *name, double fallback) {
    const char *v = std::getenv(name);
    return v && *v ? std::atof(v) : fallback;
}

double rss_mb() {
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1048576.0;
}

[[noreturn]] void watchdog(double timeout_s, double rss_limit_mb) {
    for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!g_busy.load())
            continue;
        const double mb = rss_mb();
        std::lock_guard<std::mutex> lock(g_mutex);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
        const char *what = mb > rss_limit_mb ? "out of memory"
                           : s > timeout_s   ? "timeout"
                                             : nullptr;
        if (what) {
            std::fprintf(stderr,
                         "fuzz_config_replay: FINDING: %s on %s (%.0f MB resident, %.1f s; limits "
                         "%.0f MB, %.0f s)\n",
                         what, g_current.c_str(), mb, s, rss_limit_mb, timeout_s);
            std::fflush(stderr);
            std::_Exit(1);
        }
    }
}

} // namespace

int main(int argc, char **argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const fs::path p(argv[i]);
        if (fs::is_directory(p)) {
            for (const auto &e : fs::recursive_directory_iterator(p))
                if (e.is_regular_file() && e.path().filename() != "README.md")
                    inputs.push_back(e.path());
        } else if (fs::is_regular_file(p)) {
            inputs.push_back(p);
        } else {
            std::fprintf(stderr, "fuzz_config_replay: no such file or directory: %s\n", argv[i]);
            return 2;
        }
    }
    std::sort(inputs.begin(), inputs.end());
    std::thread(watchdog, env_or("CHOKEPOINT_REPLAY_TIMEOUT_S", 20),
                env_or("CHOKEPOINT_REPLAY_RSS_MB", 2048))
        .detach();
    for (const auto &p : inputs) {
        std::ifstream in(p, std::ios::binary);
        const std::string data((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
        std::fprintf(stderr, "fuzz_config_replay: %s (%zu bytes)\n", p.c_str(), data.size());
        {
            std::lock_guard<std::mutex> lock(g_mutex);
            g_current = p.string();
            g_start = std::chrono::steady_clock::now();
        }
        g_busy.store(true);
        const int rc = LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t *>(data.data()),
                                              data.size());
        g_busy.store(false);
        std::fprintf(stderr, "  -> %s\n", rc == 0 ? "ok" : "rejected (include outside sandbox)");
    }
    std::printf("fuzz_config_replay: %zu inputs, no finding\n", inputs.size());
    return 0;
}
