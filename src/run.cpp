#include "run.hpp"

#include "config.hpp"
#include "output.hpp"
#include "sha256.hpp"
#include "simulate.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <system_error>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_pipeline.h>
#include <unistd.h>
#include <vector>

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
    // Blocks in flight live in `slots`, not in the pipeline's tokens: when a stage throws, oneTBB
    // cancels the pipeline without destroying the objects its tokens carry (a leak, found by
    // LeakSanitizer), so the tokens carry only block numbers. At most `tokens` blocks are in
    // flight and they leave in order, so block b and block b + tokens never share slot b % tokens.
    const auto tokens = static_cast<std::size_t>(2 * threads);
    std::vector<std::unique_ptr<BlockResult>> slots(tokens);
    tbb::parallel_pipeline(
        tokens,
        tbb::make_filter<void, std::uint64_t>(tbb::filter_mode::serial_in_order,
                                              [&](tbb::flow_control &fc) -> std::uint64_t {
                                                  if (next >= n_blocks || g_signal.load() != 0) {
                                                      fc.stop();
                                                      return 0;
                                                  }
                                                  return next++;
                                              }) &
            tbb::make_filter<std::uint64_t, std::uint64_t>(
                tbb::filter_mode::parallel,
                [&](std::uint64_t b) {
                    auto &sim = sims.local();
                    if (!sim)
                        sim = std::make_unique<Simulator>(model);
                    auto &r = slots[static_cast<std::size_t>(b % tokens)];
                    r = std::make_unique<BlockResult>();
                    const std::uint64_t first = b * bs;
                    sim->run_block(first, std::min(bs, trials - first), *r);
                    return b;
                }) &
            tbb::make_filter<std::uint64_t, void>(
                tbb::filter_mode::serial_in_order, [&](std::uint64_t b) {
                    auto &r = slots[static_cast<std::size_t>(b % tokens)];
                    sink(*r);
                    r.reset();
                }));
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

/// A fresh name for the temporary file beside `target`: `.<name>.partial-<pid>-<random>`, one
/// that does not exist yet, so that a failed run removes only a file it created itself.
fs::path temp_path(const fs::path &dir, const fs::path &target) {
    std::random_device rd;
    for (;;) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
        const fs::path tmp = dir / ("." + target.filename().string() + ".partial-" +
                                    std::to_string(::getpid()) + "-" + suffix);
        std::error_code ec;
        if (!fs::exists(fs::symlink_status(tmp, ec)))
            return tmp;
    }
}

/// The operating system's reason for the HDF5 error being handled, from HDF5's error stack (e.g.
/// "errno = 28, error message = 'No space left on device'"); empty when it holds none.
std::string hdf5_cause() {
    std::string cause;
    H5Ewalk2(
        H5E_DEFAULT, H5E_WALK_UPWARD,
        [](unsigned, const H5E_error2_t *err, void *data) -> herr_t {
            auto &out = *static_cast<std::string *>(data);
            if (out.empty() && err->desc) {
                const std::string d = err->desc;
                const auto at = d.find("errno = ");
                if (at == std::string::npos)
                    return 0;
                // "errno = 28, error message = 'No space left on device', buf = ..., ..."
                const auto msg = d.find("error message = '", at);
                const auto end = msg == std::string::npos ? msg : d.find('\'', msg + 17);
                out = end == std::string::npos ? d.substr(at) : d.substr(at, end + 1 - at);
            }
            return 0;
        },
        &cause);
    return cause;
}

/// Flushes a file's data to disk; throws std::system_error when that fails.
void sync_file(const fs::path &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(),
                                "cannot open '" + path.string() + "' to flush it to disk");
    if (::fsync(fd) != 0 && errno != EINVAL) {
        const int err = errno;
        ::close(fd);
        throw std::system_error(err, std::generic_category(),
                                "flushing '" + path.string() + "' to disk failed");
    }
    ::close(fd);
}

/// Flushes a directory entry (the rename) to disk; returns the error, if any.
std::error_code sync_directory(const fs::path &dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return {errno, std::generic_category()};
    std::error_code ec;
    if (::fsync(fd) != 0 && errno != EINVAL) // EINVAL: the file system cannot sync directories
        ec.assign(errno, std::generic_category());
    ::close(fd);
    return ec;
}
} // namespace

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
        struct sigaction old {};
        if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN)
            continue; // ignored by the parent (nohup, `cmd &` in a script): keep it so
        sigaction(sig, &sa, nullptr);
    }
    // A file-size limit (ulimit -f) would kill the process with SIGXFSZ and leave the temporary
    // file behind; ignored, the write fails with EFBIG and run_study cleans up like any I/O error.
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGXFSZ, &ign, nullptr);
}

void check_output_path(const std::string &path, bool overwrite) {
    if (path.empty())
        throw InputError("output path is empty");
    std::error_code ec;
    const fs::path p(path);
    if (fs::is_directory(p, ec))
        throw InputError("output path '" + path + "' is a directory; give a file name");
    // The final rename would replace a device, socket or pipe (e.g. /dev/null) with the file.
    if (fs::exists(p, ec) && !fs::is_regular_file(p, ec))
        throw InputError("output path '" + path + "' exists and is not a regular file");
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
    const fs::path tmp = temp_path(dir, target);

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
        {
            ResultWriter writer(tmp.string(), model, info);
            Accumulators total(dims_of(model));
            std::uint64_t done = 0, blocks = 0;
            auto last_report = t0;
            rep.alloc = pipeline(model, threads, [&](const BlockResult &b) {
                writer.append(b);
                total.merge(b.acc);
                done += b.count;
                if (opt.fail_after_blocks != 0 && ++blocks == opt.fail_after_blocks)
                    throw std::system_error(
                        EIO, std::generic_category(),
                        "writing '" + tmp.string() + "': simulated I/O error after " +
                            std::to_string(blocks) +
                            " blocks (test hook RunOptions::fail_after_blocks)");
                const auto now = std::chrono::steady_clock::now();
                if (!opt.quiet && now - last_report > std::chrono::seconds(5)) {
                    last_report = now;
                    const double s = std::chrono::duration<double>(now - t0).count();
                    std::cerr << "chokepoint: " << done << "/" << model.run.trials << " trials, "
                              << static_cast<std::uint64_t>(done / s) << " trials/s\n";
                }
            });
            writer.finish(total); // closes the file
            rep.trials = done;
        }
        sync_file(tmp);
        std::error_code ec;
        fs::rename(tmp, target, ec);
        if (ec)
            throw std::system_error(ec, "cannot move results into place at '" + opt.output + "'");
    } catch (const H5::Exception &e) {
        const std::string cause = hdf5_cause();
        std::error_code ec;
        fs::remove(tmp, ec);
        throw std::runtime_error("writing '" + opt.output + "' failed: HDF5: " + e.getFuncName() +
                                 ": " + e.getDetailMsg() + (cause.empty() ? "" : ": " + cause));
    } catch (...) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw;
    }
    // The results are in place; a failure to make the rename durable is only worth a warning.
    if (const auto ec = sync_directory(dir))
        std::cerr << "chokepoint: warning: cannot flush directory '" << dir.string()
                  << "' to disk: " << ec.message() << "\n";
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

} // namespace chokepoint
