#include "run.hpp"

#include "config.hpp"
#include "output.hpp"
#include "sha256.hpp"
#include "simulate.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <memory>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_pipeline.h>
#include <unistd.h>

namespace chokepoint {

namespace fs = std::filesystem;

namespace {
std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
    g_signal.store(sig);
}

int resolve_threads(int requested) {
    if (requested > 0)
        return requested;
    return std::max(1, tbb::info::default_concurrency());
}

/// Simulates every block in order of trial; `sink` receives each block in block order.
template <class Sink> AllocatorStats pipeline(const Model &model, int threads, Sink &&sink) {
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism,
                           static_cast<std::size_t>(threads));
    tbb::enumerable_thread_specific<std::unique_ptr<Simulator>> sims;
    const std::uint64_t trials = model.run.trials, bs = model.run.block_size;
    const std::uint64_t n_blocks = (trials + bs - 1) / bs;
    std::uint64_t next = 0;
    tbb::parallel_pipeline(
        static_cast<std::size_t>(2 * threads),
        tbb::make_filter<void, std::uint64_t>(tbb::filter_mode::serial_in_order,
                                              [&](tbb::flow_control &fc) -> std::uint64_t {
                                                  if (next >= n_blocks || g_signal.load() != 0) {
                                                      fc.stop();
                                                      return 0;
                                                  }
                                                  return next++;
                                              }) &
            tbb::make_filter<std::uint64_t, std::shared_ptr<BlockResult>>(
                tbb::filter_mode::parallel,
                [&](std::uint64_t b) {
                    auto &sim = sims.local();
                    if (!sim)
                        sim = std::make_unique<Simulator>(model);
                    auto r = std::make_shared<BlockResult>();
                    const std::uint64_t first = b * bs;
                    sim->run_block(first, std::min(bs, trials - first), *r);
                    return r;
                }) &
            tbb::make_filter<std::shared_ptr<BlockResult>, void>(
                tbb::filter_mode::serial_in_order,
                [&](std::shared_ptr<BlockResult> r) { sink(*r); }));
    if (const int sig = g_signal.load())
        throw Interrupted(sig);
    AllocatorStats st;
    for (const auto &sim : sims) {
        if (!sim)
            continue;
        const auto &a = sim->allocator_stats();
        st.solves += a.solves;
        st.cache_hits += a.cache_hits;
        st.monotone_hits += a.monotone_hits;
        st.lps += a.lps;
        st.warm += a.warm;
        st.cold_first += a.cold_first;
        st.cold_changed += a.cold_changed;
        st.cold_failed += a.cold_failed;
        st.pivots += a.pivots;
    }
    return st;
}

void fsync_path(const std::string &path, bool directory) {
    const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0)
        return;
    ::fsync(fd);
    ::close(fd);
}
} // namespace

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

void check_output_path(const std::string &path, bool overwrite) {
    if (path.empty())
        throw InputError("output path is empty");
    std::error_code ec;
    const fs::path p(path);
    if (fs::is_directory(p, ec))
        throw InputError("output path '" + path + "' is a directory; give a file name");
    const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    if (!fs::exists(dir, ec))
        throw InputError("output directory '" + dir.string() + "' does not exist");
    if (!fs::is_directory(dir, ec))
        throw InputError("output directory '" + dir.string() + "' is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        throw InputError("output directory '" + dir.string() + "' is not writable (" +
                         std::strerror(errno) + ")");
    if (fs::exists(p, ec) && !overwrite)
        throw InputError("output file '" + path + "' exists; pass --overwrite to replace it");
}

Accumulators run_in_memory(const Model &model, int threads) {
    Accumulators total(dims_of(model));
    pipeline(model, resolve_threads(threads), [&](const BlockResult &b) { total.merge(b.acc); });
    return total;
}

RunReport run_study(const Model &model, const RunOptions &opt) {
    check_output_path(opt.output, opt.overwrite);
    const int threads = resolve_threads(opt.threads);
    const fs::path target(opt.output);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    // Hidden, beside the target (same file system, so the final rename is atomic).
    std::string tmp_name = ".";
    tmp_name += target.filename().string();
    tmp_name += ".partial-";
    tmp_name += std::to_string(::getpid());
    const fs::path tmp = dir / tmp_name;

    std::string texts;
    for (const auto &f : model.files)
        texts += f.text;
    RunInfo info;
    info.threads = threads;
    info.config_sha256 = sha256_hex(texts);

    const auto t0 = std::chrono::steady_clock::now();
    RunReport rep;
    rep.threads = threads;
    try {
        H5::Exception::dontPrint();
        ResultWriter writer(tmp.string(), model, info);
        Accumulators total(dims_of(model));
        std::uint64_t done = 0;
        auto last_report = t0;
        rep.alloc = pipeline(model, threads, [&](const BlockResult &b) {
            writer.append(b);
            total.merge(b.acc);
            done += b.count;
            const auto now = std::chrono::steady_clock::now();
            if (!opt.quiet && now - last_report > std::chrono::seconds(5)) {
                last_report = now;
                const double s = std::chrono::duration<double>(now - t0).count();
                std::cerr << "chokepoint: " << done << "/" << model.run.trials << " trials, "
                          << static_cast<std::uint64_t>(done / s) << " trials/s\n";
            }
        });
        writer.finish(total);
        rep.trials = done;
    } catch (const H5::Exception &e) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw std::runtime_error("writing '" + opt.output + "' failed: HDF5: " + e.getFuncName() +
                                 ": " + e.getDetailMsg());
    } catch (...) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw;
    }
    fsync_path(tmp.string(), false);
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw std::runtime_error("cannot move results into place at '" + opt.output +
                                 "': " + ec.message());
    }
    fsync_path(dir.string(), true);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

} // namespace chokepoint
