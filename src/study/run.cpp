#include "study/run.hpp"

#include "study/importance.hpp"

#include "config/config.hpp"
#include "core/sha256.hpp"
#include "engine/chain_reuse.hpp"
#include "engine/simulate.hpp"
#include "io/output.hpp"
#include "study/comm.hpp"
#include "study/cpus.hpp"
#include "version.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sys/file.h>
#include <sys/stat.h>
#include <system_error>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace chokepoint {

namespace fs = std::filesystem;

namespace {
/// Per run model (baseline first): the baseline demand whose per-trial results each demand has
/// bit for bit, its value chain being the baseline's (engine/chain_reuse.hpp, the rule the
/// simulators copy by), -1 for the others; the baseline's own entry is empty.
std::vector<std::vector<int>> copied_demands(const Model &baseline,
                                             const std::vector<const Model *> &models) {
    std::vector<std::vector<int>> out(models.size());
    for (std::size_t k = 1; k < models.size(); ++k)
        out[k] = chain_reuse(baseline, *models[k]).demand;
    return out;
}

std::atomic<int> g_signal{0};
// The signal this process received itself (g_signal is also set when another MPI rank stops).
std::atomic<int> g_own_signal{0};

extern "C" void on_signal(int sig) {
    g_own_signal.store(sig);
    g_signal.store(sig);
}

/// Blocks first, first + stride, ... below end (stride > 1: one MPI rank's share).
struct BlockRange {
    std::uint64_t first = 0, end = 0, stride = 1;
};

/// A block of trials of every scenario of a run (baseline first).
using Blocks = std::vector<BlockResult>;

/// A block runs as up to `threads` slices of at least this many trials (see pipeline()).
constexpr std::uint64_t kMinPieceTrials = 16;

/// What the progress reporter may watch while blocks are in flight: trials simulated so far
/// (over every scenario: one trial of M scenarios counts M) and blocks being simulated.
struct PipelineProbe {
    std::atomic<std::uint64_t> trials{0};
    std::atomic<int> blocks{0};
};

/// A thread that calls `poll` every `period` until it returns true or the object is destroyed
/// (which waits for a call under way): the progress ticker, and the MPI stop message's watchers.
class Periodic {
public:
    Periodic(std::chrono::milliseconds period, std::function<bool()> poll)
        : period_(period), poll_(std::move(poll)), thread_([this] { loop(); }) {}
    ~Periodic() {
        {
            std::lock_guard<std::mutex> lk(mu_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    Periodic(const Periodic &) = delete;
    Periodic &operator=(const Periodic &) = delete;

private:
    void loop() {
        std::unique_lock<std::mutex> lk(mu_);
        while (!cv_.wait_for(lk, period_, [this] { return done_; })) {
            lk.unlock();
            const bool stop = poll_();
            lk.lock();
            if (stop)
                return;
        }
    }
    std::chrono::milliseconds period_;
    std::function<bool()> poll_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_; // last: started once the members above exist
};

/// How often an MPI rank looks for the stop message (Comm::send_stop, Comm::stop_requested).
constexpr std::chrono::milliseconds kStopPoll{20};

/// Keeps a run's progress report moving while blocks are in flight, so that it shows before
/// the first block is written (a block of the full default study takes ~10-20 s), and acknowledges
/// a stop signal at once. Every call on the Progress goes through `mu` (shared with the writer
/// stage). Stopped by its destructor.
class ProgressTicker {
public:
    ProgressTicker(Progress &progress, std::recursive_mutex &mu, const PipelineProbe &probe,
                   std::function<std::uint64_t()> shown, std::string checkpoint)
        : progress_(progress), mu_(mu), probe_(probe), shown_(std::move(shown)),
          checkpoint_(std::move(checkpoint)), ticks_(std::chrono::milliseconds(100), [this] {
              tick();
              return false;
          }) {}

private:
    void tick() {
        std::lock_guard<std::recursive_mutex> g(mu_);
        progress_.update(shown_());
        if (const int sig = g_signal.load(); sig != 0 && !acknowledged_) {
            acknowledged_ = true;
            progress_.event("stopping",
                            {{"signal", std::to_string(sig)},
                             {"blocks_in_flight", std::to_string(probe_.blocks.load())},
                             {"then", json_string("the unfinished blocks are dropped and "
                                                  "the checkpoint " +
                                                  checkpoint_ + " is written")}});
        }
    }
    Progress &progress_;
    std::recursive_mutex &mu_;
    const PipelineProbe &probe_;
    std::function<std::uint64_t()> shown_;
    std::string checkpoint_;
    bool acknowledged_ = false; // touched by the ticking thread only
    Periodic ticks_;            // last: ticks once the members above exist
};

/// Simulates the blocks of `range` in order, every scenario on the same trials (with the paired
/// differences against the baseline); `sink` receives each block in block order. Stops reading
/// new blocks on a signal or when `halt` is set.
/// When an allocation LP fails (LpFailure) in block b, the blocks before b are still delivered in
/// order; block b and those after are not, and the failure (with its scenario named) is returned
/// in `failure` (nullptr: the caller lets it propagate). With a `packer`, each block's tables
/// are encoded for the results file in the parallel stage (io/output.hpp, BlockPacker), so that
/// the serial stage only stores them.
template <class Sink>
AllocatorStats pipeline(const Model &model, int threads, BlockRange range, Sink &&sink,
                        const std::atomic<bool> *halt = nullptr,
                        std::unique_ptr<LpFailure> *failure = nullptr,
                        PipelineProbe *probe = nullptr, const BlockPacker *packer = nullptr) {
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism,
                           static_cast<std::size_t>(threads));
    const auto models = run_models(model);
    const auto scenario_ids = run_scenario_ids(model);
    std::vector<std::vector<int>> base_of;
    for (const auto *sm : models)
        base_of.push_back(baseline_demands(model, *sm));
    tbb::enumerable_thread_specific<std::vector<std::unique_ptr<Simulator>>> sims;
    const auto design = make_design(model); // shared, immutable: the run's sampling design
    const std::uint64_t trials = model.run.trials, bs = model.run.block_size;
    std::uint64_t next = range.first;
    // Blocks in flight live in `slots`, not in the pipeline's tokens: when a stage throws, oneTBB
    // cancels the pipeline without destroying the objects its tokens carry (a leak, found by
    // LeakSanitizer), so the tokens carry only block numbers. At most `tokens` blocks are in
    // flight and they leave in order, so block b and block b + tokens never share slot b % tokens.
    const auto tokens = static_cast<std::size_t>(2 * threads);
    std::vector<std::unique_ptr<Blocks>> slots(tokens);
    std::vector<std::unique_ptr<LpFailure>> failed(tokens);
    std::vector<char> aborted(tokens, 0); // the block stopped unfinished (a signal)
    bool gap = false;                     // a block was dropped: none after it may be written
    auto index = [&](std::uint64_t b) {
        return static_cast<std::size_t>(((b - range.first) / range.stride) % tokens);
    };
    auto slot = [&](std::uint64_t b) -> std::unique_ptr<Blocks> & { return slots[index(b)]; };
    std::atomic<bool> stop{false};
    // This thread's simulators, one per model, made on first use.
    auto local_sims = [&]() -> std::vector<std::unique_ptr<Simulator>> & {
        auto &sim = sims.local();
        if (sim.empty()) {
            // Scenarios copy the value chains they share with the baseline from the
            // baseline's block (engine/chain_reuse.hpp): the same bits, fewer LPs.
            bool reuse = false;
            for (std::size_t k = 0; k < models.size(); ++k) {
                sim.push_back(std::make_unique<Simulator>(*models[k], design, true,
                                                          k > 0 ? &model : nullptr));
                sim.back()->set_abort_flag(&g_signal);
                if (probe)
                    sim.back()->set_trial_counter(&probe->trials);
                reuse = reuse || sim.back()->reuses_chains();
            }
            sim[0]->set_export_tallies(reuse);
        }
        return sim;
    };
    tbb::parallel_pipeline(
        tokens,
        tbb::make_filter<void, std::uint64_t>(tbb::filter_mode::serial_in_order,
                                              [&](tbb::flow_control &fc) -> std::uint64_t {
                                                  if (next >= range.end || g_signal.load() != 0 ||
                                                      (halt && halt->load()) || stop.load()) {
                                                      fc.stop();
                                                      return 0;
                                                  }
                                                  const auto b = next;
                                                  next += range.stride;
                                                  return b;
                                              }) &
            tbb::make_filter<std::uint64_t, std::uint64_t>(
                tbb::filter_mode::parallel,
                [&](std::uint64_t b) {
                    if (probe)
                        probe->blocks.fetch_add(1);
                    struct InFlight {
                        PipelineProbe *p;
                        ~InFlight() {
                            if (p)
                                p->blocks.fetch_sub(1);
                        }
                    } in_flight{probe};
                    auto &r = slot(b);
                    r = std::make_unique<Blocks>(models.size());
                    const std::uint64_t first = b * bs, count = std::min(bs, trials - first);
                    // The block's trials in `pieces` consecutive slices, run in parallel on
                    // whichever threads are free (so that a run with fewer blocks than threads,
                    // or the last blocks of a run, still use every thread), each slice with
                    // every model in turn on one thread's simulators. A trial's results do not
                    // depend on the trials simulated before it (every trial starts from a
                    // forgotten allocator), the slices' rows are joined in trial order and their
                    // accumulators merge exactly: the block is the same, bit for bit, as one
                    // run_block over all its trials, on any number of threads.
                    const auto pieces = static_cast<std::size_t>(std::clamp<std::uint64_t>(
                        count / kMinPieceTrials, 1, static_cast<std::uint64_t>(threads)));
                    struct Piece {
                        Blocks res;
                        std::unique_ptr<LpFailure> failure;
                        std::size_t failed_model = 0;
                        bool aborted = false, done = false;
                    };
                    std::vector<Piece> part(pieces);
                    std::vector<char> merged(models.size(), 0);
                    std::mutex merge_mutex;
                    auto run_piece = [&](std::size_t p) {
                        auto &sim = local_sims();
                        Piece &pc = part[p];
                        pc.res.resize(models.size());
                        const std::uint64_t a = first + count * p / pieces,
                                            e = first + count * (p + 1) / pieces;
                        for (std::size_t k = 0; k < models.size(); ++k) {
                            try {
                                sim[k]->run_block(a, e - a, pc.res[k],
                                                  k > 0 ? &pc.res[0] : nullptr);
                            } catch (LpFailure &f) {
                                f.scenario = scenario_ids[k];
                                pc.failure = std::make_unique<LpFailure>(f);
                                pc.failed_model = k;
                                return;
                            } catch (const BlockAborted &) {
                                pc.aborted = true;
                                return;
                            }
                        }
                        pc.done = true;
                        // The accumulators (the bulk of a slice's memory) merge into the block's
                        // as soon as the slice is done, in any order: the merge is exact.
                        std::lock_guard<std::mutex> lock(merge_mutex);
                        for (std::size_t k = 0; k < models.size(); ++k) {
                            auto &acc = pc.res[k].acc;
                            if (!merged[k])
                                (*r)[k].acc = std::move(acc);
                            else
                                (*r)[k].acc.merge(acc);
                            merged[k] = 1;
                            acc = Accumulators();
                        }
                    };
                    if (pieces == 1)
                        run_piece(0);
                    else
                        tbb::parallel_for(std::size_t(0), pieces, run_piece);
                    // The failure that the slices' order would meet first: the lowest model (the
                    // baseline runs before the scenarios), then the earliest trial.
                    Piece *bad = nullptr;
                    for (auto &pc : part) {
                        if (pc.aborted) {
                            aborted[index(b)] = 1;
                            return b;
                        }
                        // A slice that did not run: the pipeline is being cancelled (another
                        // block threw); this block must not reach the writer incomplete.
                        if (!pc.done && !pc.failure)
                            throw std::logic_error("a slice of block " + std::to_string(b) +
                                                   " did not run");
                        if (pc.failure && (!bad || pc.failed_model < bad->failed_model ||
                                           (pc.failed_model == bad->failed_model &&
                                            pc.failure->trial < bad->failure->trial)))
                            bad = &pc;
                    }
                    if (bad) {
                        if (!failure)
                            throw LpFailure(*bad->failure);
                        failed[index(b)] = std::move(bad->failure);
                        return b;
                    }
                    // The rows in trial order (one slice's are moved, not copied).
                    for (std::size_t k = 0; k < models.size(); ++k)
                        for (auto &pc : part)
                            append_trials((*r)[k], pc.res[k]);
                    for (std::size_t k = 1; k < models.size(); ++k)
                        add_paired_differences((*r)[0], base_of[k], *design, (*r)[k]);
                    // The tallies the scenarios copied are not written: free them now.
                    auto &b0 = (*r)[0];
                    std::vector<double>().swap(b0.monthly_exact);
                    std::vector<double>().swap(b0.fac_unserved);
                    std::vector<double>().swap(b0.node_unserved);
                    std::vector<double>().swap(b0.res_unserved);
                    std::vector<std::int32_t>().swap(b0.node_months);
                    std::vector<std::int32_t>().swap(b0.res_months);
                    if (packer)
                        packer->pack(*r);
                    return b;
                }) &
            tbb::make_filter<std::uint64_t, void>(tbb::filter_mode::serial_in_order,
                                                  [&](std::uint64_t b) {
                                                      auto &r = slot(b);
                                                      auto &f = failed[index(b)];
                                                      if (aborted[index(b)] || gap) {
                                                          // Stopped by a signal: this block and
                                                          // every later one are dropped (the
                                                          // checkpoint resumes from here).
                                                          aborted[index(b)] = 0;
                                                          gap = true;
                                                          f.reset();
                                                          stop.store(true);
                                                      } else if (f || (failure && *failure)) {
                                                          // The first failed block in order ends
                                                          // the run; later blocks in flight are
                                                          // dropped.
                                                          if (failure && !*failure)
                                                              *failure = std::move(f);
                                                          f.reset();
                                                          stop.store(true);
                                                      } else {
                                                          sink(*r);
                                                      }
                                                      r.reset();
                                                  }));
    AllocatorStats st;
    for (const auto &simv : sims)
        for (const auto &sim : simv)
            st.merge(sim->allocator_stats());
    return st;
}

/// The longest file name in directory `dir` (NAME_MAX, 255 on Linux file systems).
std::size_t name_max(const fs::path &dir) {
    const long n = ::pathconf(dir.empty() ? "." : dir.c_str(), _PC_NAME_MAX);
    return n > 0 ? static_cast<std::size_t>(n) : 255;
}

/// `.<name><tail>` beside `target`; when that would exceed the file system's longest name,
/// <name> is cut to a prefix (at a UTF-8 character boundary) followed by `~` and 8 hex digits of
/// a hash of the whole name: any legal target name gets a legal hidden name.
fs::path hidden_name(const fs::path &target, const std::string &tail) {
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const std::size_t max = name_max(dir);
    std::string name = target.filename().string();
    if (1 + name.size() + tail.size() > max) {
        char hash[16];
        std::snprintf(hash, sizeof hash, "~%08x",
                      static_cast<unsigned>(std::hash<std::string>{}(name)));
        std::size_t keep = max > 1 + tail.size() + 9 ? max - 1 - tail.size() - 9 : 0;
        while (keep > 0 && (static_cast<unsigned char>(name[keep]) & 0xC0) == 0x80)
            --keep; // not inside a UTF-8 character
        name = name.substr(0, keep) + hash;
    }
    return dir / ("." + name + tail);
}

/// This machine's name as gethostname(2) gives it, every character outside [A-Za-z0-9._] as
/// '_', at most 64 characters ("host" if it has none): it tells whose temporary files are whose
/// in a directory that several nodes share.
const std::string &host_tag() {
    static const std::string tag = [] {
        char buf[256] = {};
        std::string h;
        if (::gethostname(buf, sizeof buf - 1) == 0)
            h = buf;
        for (char &c : h)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_')
                c = '_';
        if (h.size() > 64)
            h.resize(64);
        return h.empty() ? std::string("host") : h;
    }();
    return tag;
}

/// A fresh hidden name beside `target`, `.<name>.<what>-<pid>@<host>-<random>` (hidden_name,
/// host_tag), that does not exist yet (so that a failed run removes only a file it created
/// itself).
fs::path hidden_path(const fs::path &target, const char *what) {
    std::random_device rd;
    for (;;) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
        const fs::path p =
            hidden_name(target, std::string(".") + what + "-" + std::to_string(::getpid()) + "@" +
                                    host_tag() + "-" + suffix);
        std::error_code ec;
        if (!fs::exists(fs::symlink_status(p, ec)))
            return p;
    }
}

/// One writer per output: an exclusive flock(2) on `.<name>.lock` beside the output, held for
/// the whole run (or merge), so that a second run given the same -o (a nightly job that starts
/// while last night's still runs) refuses at its start instead of sharing the checkpoint and
/// racing for the file. The kernel releases the lock when its process ends, however it ends
/// (SIGKILL, a node crash): a lock file left behind never blocks a later run, which takes it
/// over. The holder removes the file when it is done; a process that opened the file before the
/// removal finds, once it holds the lock, that the path no longer names its file and tries again.
/// Where the file system has no locks (ENOLCK, ENOSYS) the run goes on unguarded, with a
/// warning; where its locks hold within one node only, so does the guard (docs/robustness.md).
class OutputLock {
public:
    OutputLock(const fs::path &target, const std::string &shown)
        : path_(hidden_name(target, ".lock")) {
        for (;;) {
            fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
            // Another user's lock file, left by a killed run: a read-only descriptor locks too
            // (locally; NFS emulates flock by a write lock, which it refuses: EBADF below).
            bool read_only = false;
            if (fd_ < 0 && errno == EACCES) {
                fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                read_only = true;
            }
            if (fd_ < 0)
                throw std::system_error(errno, std::generic_category(),
                                        "cannot open the lock file '" + path_.string() + "' of '" +
                                            shown + "'");
            if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
                const int err = errno;
                if (err == EWOULDBLOCK) {
                    char buf[32] = {};
                    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
                    std::string pid(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
                    pid.erase(std::find_if(pid.begin(), pid.end(),
                                           [](char c) { return c < '0' || c > '9'; }),
                              pid.end());
                    ::close(fd_);
                    fd_ = -1;
                    throw InputError("another chokepoint process" +
                                     (pid.empty() ? "" : " (pid " + pid + ")") + " is writing '" +
                                     shown + "' (it holds '" + path_.string() +
                                     "'); wait for it to end, or choose another output (-o)");
                }
                ::close(fd_);
                fd_ = -1;
                // No locks here (ENOLCK: NFS without a lock manager; ENOSYS: Lustre mounted
                // without flock), or none through a read-only descriptor: go on unguarded.
                if (err == ENOLCK || err == EOPNOTSUPP || err == EINVAL || err == ENOSYS ||
                    (read_only && err == EBADF)) {
                    std::cerr << "chokepoint: warning: cannot lock '" << path_.string() << "' ("
                              << std::strerror(err)
                              << "): a second run with the same output would not be refused\n";
                    return;
                }
                throw std::system_error(err, std::generic_category(),
                                        "cannot lock '" + path_.string() + "'");
            }
            struct stat held {
            }, named{};
            if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 &&
                held.st_dev == named.st_dev && held.st_ino == named.st_ino)
                break;
            ::close(fd_); // its holder removed it meanwhile: lock the file the path names now
            fd_ = -1;
        }
        remove_leftovers(target);
        const std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(fd_, 0) != 0 ||
            ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
            // Only the pid in a refusal's message is lost (a full disk): the lock holds.
        }
    }
    ~OutputLock() {
        if (fd_ < 0)
            return;
        ::unlink(path_.c_str()); // while held: see the class comment
        ::close(fd_);
    }
    OutputLock(const OutputLock &) = delete;
    OutputLock &operator=(const OutputLock &) = delete;

private:
    /// With the lock held, no live process writes this output: the hidden temporary and staging
    /// files of its earlier runs on this machine (`.<name>.partial-<pid>@<host>-<hex>`,
    /// `.<name>.checkpoint.staging-<pid>@<host>-<hex>`, host_tag() this one's) whose pid is no
    /// live process are what a SIGKILL, a crash or a power cut left behind, possibly gigabytes;
    /// they are removed (and named on stderr). Another machine's are kept: on a share whose
    /// locks hold within one node only (NFS `local_lock`, `nolock`; BeeGFS, Lustre `localflock`)
    /// a run on another node may hold the lock's file too, and its pid cannot be checked from
    /// here. So are names of other forms (a version before the lock; a long name cut to fit).
    static void remove_leftovers(const fs::path &target) {
        const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
        const std::string name = target.filename().string();
        const std::string prefixes[] = {"." + name + ".partial-",
                                        "." + name + ".checkpoint.staging-"};
        std::error_code ec;
        fs::directory_iterator it(dir, ec), end;
        std::vector<fs::path> stale;
        for (; !ec && it != end; it.increment(ec)) {
            const std::string n = it->path().filename().string();
            for (const auto &pre : prefixes) {
                if (n.size() <= pre.size() || !n.starts_with(pre))
                    continue;
                // <pid>@<this host>-<8 hex digits>, exactly as hidden_path writes them here
                const std::string rest = n.substr(pre.size());
                const auto at = rest.find('@');
                const std::string tail = "@" + host_tag() + "-";
                if (at == std::string::npos || at == 0 || at > 9 ||
                    rest.compare(at, tail.size(), tail) != 0 ||
                    rest.size() != at + tail.size() + 8 ||
                    !std::all_of(rest.begin(), rest.begin() + static_cast<long>(at),
                                 [](char c) { return c >= '0' && c <= '9'; }) ||
                    !std::all_of(rest.end() - 8, rest.end(), [](char c) {
                        return std::isxdigit(static_cast<unsigned char>(c));
                    }))
                    continue;
                const long pid = std::strtol(rest.substr(0, at).c_str(), nullptr, 10);
                if (pid > 0 && pid != ::getpid() &&
                    (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM))
                    continue; // a live process of that number
                std::error_code sec;
                if (fs::is_regular_file(fs::symlink_status(it->path(), sec)))
                    stale.push_back(it->path());
            }
        }
        for (const auto &p : stale) {
            std::error_code rec;
            if (fs::remove(p, rec))
                std::cerr << "chokepoint: removed '" << p.string()
                          << "', left by an earlier run with this output that was killed\n";
        }
    }

    fs::path path_;
    int fd_ = -1;
};

/// A fresh name for the temporary file beside `target`: `.<name>.partial-<pid>@<host>-<random>`.
fs::path temp_path(const fs::path &target) {
    return hidden_path(target, "partial");
}

/// The operating system's reason for the HDF5 error being handled, from HDF5's error stack (e.g.
/// "errno = 28, error message = 'No space left on device'"); empty when it holds none.
std::string hdf5_cause(const H5::Exception &e) {
    if (e.getDetailMsg().find("errno = ") != std::string::npos)
        return ""; // the message says it already (ResultWriter's flush)
    return hdf5_errno_text();
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

/// Renames `from` to `to` unless `to` exists (atomically where the file system can: renameat2's
/// RENAME_NOREPLACE, else link + unlink; else a check and a rename). Returns false, and leaves
/// both as they are, when `to` exists; throws on any other failure.
bool rename_no_replace(const fs::path &from, const fs::path &to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
        return true;
    int err = errno;
    if (err == EEXIST)
        return false;
    if (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP) { // no RENAME_NOREPLACE here
        if (::link(from.c_str(), to.c_str()) == 0) {
            ::unlink(from.c_str());
            return true;
        }
        err = errno;
        if (err == EEXIST)
            return false;
        std::error_code ec;
        if (fs::exists(to, ec))
            return false;
        fs::rename(from, to, ec); // a file system without hard links: the check above, then this
        if (!ec)
            return true;
        err = ec.value();
    }
    throw std::system_error(err, std::generic_category(),
                            "cannot move '" + from.string() + "' to '" + to.string() + "'");
}

/// Moves the finished file `tmp` to `target`: over it with --overwrite; otherwise only if no
/// file appeared there during the run (another run with the same -o: the checks at the start
/// cannot see one that finishes later), else beside it as <stem>.conflict-<pid><ext> and throws,
/// naming both: neither run's results are lost.
void publish(const fs::path &tmp, const fs::path &target, bool overwrite,
             const std::string &shown) {
    std::error_code ec;
    if (overwrite) {
        fs::rename(tmp, target, ec);
        if (ec)
            throw std::system_error(ec, "cannot move results into place at '" + shown + "'");
        return;
    }
    if (rename_no_replace(tmp, target))
        return;
    fs::path alt = target;
    alt.replace_filename(target.stem().string() + ".conflict-" + std::to_string(::getpid()) +
                         target.extension().string());
    if (!rename_no_replace(tmp, alt))
        throw std::runtime_error("'" + shown + "' and '" + alt.string() +
                                 "' both appeared during this run; its results are left in '" +
                                 tmp.string() + "'");
    throw std::runtime_error(
        "'" + shown +
        "' appeared during this run (another run with the same output?) and is "
        "left as it is; this run's results are complete in '" +
        alt.string() + "' (rename it, or run with --overwrite to replace)");
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
    for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) {
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
    if (const auto len = p.filename().string().size(); len > name_max(dir))
        throw InputError("output file name '" + p.filename().string() + "' is " +
                         std::to_string(len) + " bytes long; the file system allows at most " +
                         std::to_string(name_max(dir)));
    if (fs::exists(p, ec) && !overwrite)
        throw InputError("output file '" + path + "' exists; pass --overwrite to replace it");
}

namespace {
/// Refuses, before anything is written, an output (the results file or its checkpoint) that is
/// one of the inputs (`what` -> path: the config, a file it includes, the checkpoint resumed, a
/// shard merged): the final rename would replace it (with --overwrite, a run onto its own config
/// replaced the config).
void refuse_output_over_inputs(const std::vector<fs::path> &outputs,
                               const std::vector<std::pair<std::string, std::string>> &inputs) {
    for (const auto &out : outputs)
        for (const auto &[what, in] : inputs) {
            std::error_code ec;
            if (!in.empty() && fs::equivalent(out, fs::path(in), ec))
                throw InputError("output '" + out.string() + "' is " + what + " '" + in +
                                 "'; writing it would replace that file: choose another output "
                                 "path (-o)");
        }
}
} // namespace

int resolve_threads(int requested) {
    if (requested > 0)
        return requested;
    return usable_cpus(detect_cpu_limits());
}

const std::atomic<int> *stop_signal_flag() {
    return &g_signal;
}

std::string checkpoint_path(const std::string &output) {
    return output + ".checkpoint";
}

std::pair<std::uint64_t, std::uint64_t> shard_blocks(std::uint64_t n_blocks, int k, int n) {
    if (n < 1 || k < 1 || k > n)
        throw InputError("--shard " + std::to_string(k) + "/" + std::to_string(n) +
                         ": K must be 1..N (the K-th of N shards)");
    if (n_blocks < static_cast<std::uint64_t>(n))
        throw InputError("--shard " + std::to_string(k) + "/" + std::to_string(n) +
                         ": the run has only " + std::to_string(n_blocks) +
                         " blocks of trials, fewer than " + std::to_string(n) +
                         " shards; use fewer shards or a smaller " + "run.block_size");
    const auto N = static_cast<std::uint64_t>(n), K = static_cast<std::uint64_t>(k);
    return {(K - 1) * n_blocks / N, K * n_blocks / N};
}

OneTrial run_one_trial(const Model &model, const std::string &scenario, std::uint64_t trial,
                       Rung first_rung) {
    const auto models = run_models(model);
    const auto ids = run_scenario_ids(model);
    std::size_t k = 0;
    while (k < ids.size() && ids[k] != scenario)
        ++k;
    if (k == ids.size()) {
        std::string known;
        for (const auto &id : ids)
            known += (known.empty() ? "" : ", ") + id;
        throw InputError("trial: no scenario '" + scenario + "' in the config (it has: " + known +
                         ")");
    }
    if (trial >= model.run.trials)
        throw InputError("trial: --trial " + std::to_string(trial) + " is outside the run's " +
                         std::to_string(model.run.trials) +
                         " trials (0-based; set the run's size with --trials as for `run`)");
    OneTrial out;
    out.scenario = scenario;
    out.model = models[k];
    Simulator sim(*models[k], make_design(model));
    sim.set_first_rung(first_rung);
    sim.set_trace(&out.trace);
    try {
        sim.run_block(trial, 1, out.row);
    } catch (LpFailure &f) {
        f.scenario = scenario;
        throw;
    }
    return out;
}

Accumulators run_in_memory(const Model &model, int threads) {
    Accumulators total(dims_of(model));
    const std::uint64_t bs = model.run.block_size;
    pipeline(model, resolve_threads(threads), {0, (model.run.trials + bs - 1) / bs, 1},
             [&](const std::vector<BlockResult> &b) { total.merge(b[0].acc); });
    if (const int sig = g_signal.load())
        throw Interrupted(sig);
    return total;
}

namespace {

/// Copies file `from` to `to` (which must not exist): copy_file_range (a reflink where the file
/// system shares extents), then fsync. Throws std::system_error naming the files.
void copy_and_sync(const fs::path &from, const fs::path &to) {
    const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0)
        throw std::system_error(errno, std::generic_category(),
                                "cannot open '" + from.string() + "' to copy it");
    const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        const int err = errno;
        ::close(in);
        throw std::system_error(err, std::generic_category(),
                                "cannot create '" + to.string() + "'");
    }
    auto fail = [&](const std::string &what) {
        const int err = errno;
        ::close(in);
        ::close(out);
        std::error_code ec;
        fs::remove(to, ec);
        throw std::system_error(err, std::generic_category(), what);
    };
    bool use_read = false;
    for (;;) {
        ssize_t n = 0;
        if (!use_read) {
            n = ::copy_file_range(in, nullptr, out, nullptr, std::size_t(1) << 30, 0);
            if (n < 0 &&
                (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
                use_read = true;
                continue;
            }
        } else {
            static thread_local std::vector<char> buf(std::size_t(1) << 20);
            n = ::read(in, buf.data(), buf.size());
            if (n > 0) {
                for (ssize_t off = 0; off < n;) {
                    const ssize_t w =
                        ::write(out, buf.data() + off, static_cast<std::size_t>(n - off));
                    if (w < 0) {
                        if (errno == EINTR)
                            continue;
                        fail("writing '" + to.string() + "'");
                    }
                    off += w;
                }
            }
        }
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("copying '" + from.string() + "' to '" + to.string() + "'");
        }
    }
    if (::fsync(out) != 0 && errno != EINVAL)
        fail("flushing '" + to.string() + "' to disk");
    ::close(in);
    if (::close(out) != 0)
        fail("closing '" + to.string() + "'");
}

/// Publishes a snapshot of the closed file `tmp` at `checkpoint` atomically: copy beside it,
/// fsync, rename over the previous checkpoint, fsync the directory. A crash at any moment leaves
/// the previous checkpoint or the new one, whole.
void publish_checkpoint(const fs::path &tmp, const fs::path &checkpoint) {
    const fs::path staging = hidden_path(checkpoint, "staging");
    copy_and_sync(tmp, staging);
    try {
        seal_file(staging.string()); // its SHA-256 at its end: damage is found before HDF5 reads
    } catch (...) {
        std::error_code ec2;
        fs::remove(staging, ec2);
        throw;
    }
    std::error_code ec;
    fs::rename(staging, checkpoint, ec);
    if (ec) {
        std::error_code ec2;
        fs::remove(staging, ec2);
        throw std::system_error(ec, "cannot move checkpoint into place at '" + checkpoint.string() +
                                        "'");
    }
    sync_directory(checkpoint.has_parent_path() ? checkpoint.parent_path() : fs::path("."));
}

bool stderr_is_tty() {
    return ::isatty(STDERR_FILENO) == 1;
}

std::string config_digest(const Model &model) {
    std::string texts;
    for (const auto &f : model.files)
        texts += f.text;
    return sha256_hex(texts);
}

/// Checks that the checkpoint `r` continues the run `model`/`opt` describes. Returns the note for
/// RunInfo::resumed_by: empty, or this program's version when `allow_version_change` let a
/// checkpoint of another version through.
std::string check_resumable(const StoredRun &r, const Model &model, bool allow_version_change) {
    auto refuse = [&](const std::string &why) {
        throw InputError("cannot resume '" + r.path + "': " + why);
    };
    if (r.complete)
        refuse("it is a finished results file, not a checkpoint");
    if (!r.has_state)
        refuse("it holds no statistics state (/state); it is not a checkpoint");
    std::string resumed_by;
    if (r.program_version != kVersion || r.git_commit != kGitCommit) {
        if (!allow_version_change)
            refuse("it was written by chokepoint " + r.program_version + " (" + r.git_commit +
                   "), this is " + kVersion + " (" + kGitCommit +
                   "); a different program may simulate differently: rerun from the start, or "
                   "pass --allow-version-change to finish it with this one (the file records it)");
        resumed_by = std::string(kVersion) + " (" + kGitCommit + ")";
        std::cerr << "chokepoint: warning: '" << r.path << "' was written by chokepoint "
                  << r.program_version << " (" << r.git_commit << "); its remaining trials are "
                  << "simulated by " << resumed_by << " (recorded as resumed_by_version)\n";
    }
    if (r.config_sha256 != config_digest(model))
        refuse("its config texts do not match its config digest (damaged file)");
    if (r.next_block < r.first_block || r.next_block > r.end_block)
        refuse("its next block " + std::to_string(r.next_block) + " lies outside its blocks [" +
               std::to_string(r.first_block) + ", " + std::to_string(r.end_block) + ")");
    return resumed_by;
}

/// Writes the failed LP of `f` to `path` (atomically: a hidden file renamed into place), with the
/// failure and the command that replays its trial in the header. Returns "" or why it could not.
std::string write_failed_lp(const LpFailure &f, const fs::path &path, const Model &model) {
    const fs::path tmp = hidden_path(path, "partial");
    {
        std::ofstream os(tmp);
        os << "\\ chokepoint " << kVersion << " (" << kGitCommit << "): " << f.describe() << "\n";
        os << "\\ replay the trial: chokepoint trial "
           << (model.files.empty() ? std::string("CONFIG") : model.files[0].path) << " --trial "
           << f.trial << " --seed " << model.run.seed << " --trials " << model.run.trials
           << " --scenario " << f.scenario << "\n";
        os << "\\ replay this LP: chokepoint lp " << path.filename().string()
           << " (docs/robustness.md)\n";
        os << f.lp_text();
        os.flush();
        if (!os) {
            std::error_code ec;
            fs::remove(tmp, ec);
            return "cannot write '" + path.string() + "': " + std::strerror(errno);
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return "cannot write '" + path.string() + "': " + ec.message();
    }
    return "";
}

} // namespace

RunReport run_study(const Model &model, const RunOptions &opt) {
    Comm *comm = opt.comm && opt.comm->size() > 1 ? opt.comm : nullptr;
    const int rank = comm ? comm->rank() : 0, ranks = comm ? comm->size() : 1;
    const int threads = resolve_threads(opt.threads);
    const std::uint64_t bs = model.run.block_size;
    const std::uint64_t n_blocks = (model.run.trials + bs - 1) / bs;

    // Which blocks this run covers, and where it starts (a resumed checkpoint: its next block).
    std::uint64_t first = 0, end = n_blocks, start = 0;
    StoredRun stored;
    std::string resumed_by;
    int shard_index = opt.shard_index, shard_count = opt.shard_count;
    if (!opt.resume.empty()) {
        stored = read_stored_run(opt.resume);
        resumed_by = check_resumable(stored, model, opt.allow_version_change);
        first = stored.first_block;
        end = stored.end_block;
        start = stored.next_block;
        shard_index = stored.shard_index;
        shard_count = stored.shard_count;
        if (stored.blocks_total != n_blocks)
            throw InputError("cannot resume '" + opt.resume + "': it plans " +
                             std::to_string(stored.blocks_total) + " blocks, the model " +
                             std::to_string(n_blocks));
    } else if (shard_count > 0) {
        std::tie(first, end) = shard_blocks(n_blocks, shard_index, shard_count);
        start = first;
    }

    if (rank == 0 && !opt.quiet) {
        if (const auto w = sampling_warning(model); !w.empty())
            std::cerr << "chokepoint: warning: " << w << "\n";
        for (const auto &w : model.warnings)
            std::cerr << "chokepoint: warning: " << w.format() << "\n";
    }

    RunReport rep;
    rep.threads = threads;
    rep.ranks = ranks;
    if (rank != 0) {
        // A worker rank: simulate blocks start + rank, start + rank + P, ... and send them.
        // Blocks go out in order; the end message tells rank 0 where this rank stopped.
        const auto t0 = std::chrono::steady_clock::now();
        std::uint64_t sent = 0;
        std::unique_ptr<LpFailure> failure;
        // Its blocks' tables deflated here, in the parallel stage, and sent as chunks: rank 0
        // then only stores them. The layout is a new file's (made in memory); when rank 0's
        // file is laid out otherwise (a resumed older checkpoint), or the layout cannot be
        // made, rank 0 deflates the rows itself.
        BlockPacker packer;
        if (opt.pack_blocks) {
            RunInfo layout;
            for (const auto *sm : run_models(model))
                layout.input_names.push_back(kept_input_names(*sm));
            try {
                const QuietHdf5 quiet;
                packer = ResultWriter::packer_for(model, layout);
            } catch (...) {
                // No layout: the packer stays empty and rank 0 deflates this rank's rows.
            }
        }
        {
            // Rank 0 tells this rank to stop when its stopping rule is met, on a signal that
            // reached rank 0 (or another rank) only, or on a failure elsewhere: blocks past that
            // point would be dropped. A watcher polls for the message and stops the pipeline
            // as a signal would (the blocks in flight stop before their next trial).
            const Periodic watcher(kStopPoll, [&] {
                if (!comm->stop_requested())
                    return false;
                int none = 0;
                g_signal.compare_exchange_strong(none, SIGTERM);
                return true;
            });
            rep.alloc = pipeline(
                model, threads,
                {start + static_cast<std::uint64_t>(rank), end, static_cast<std::uint64_t>(ranks)},
                [&](const std::vector<BlockResult> &b) {
                    comm->send_block(b);
                    sent += b.front().count;
                },
                nullptr, &failure, nullptr, &packer);
        }
        std::string failure_text;
        if (failure) {
            // Rank 0 sees this rank's blocks end early and checkpoints what came before.
            const fs::path lp_file = opt.output + ".failed.lp";
            const std::string why = write_failed_lp(*failure, lp_file, model);
            failure_text = "rank " + std::to_string(rank) + ": " + failure->describe() +
                           (why.empty() ? ". The LP is in '" + lp_file.string() + "'" : ". " + why);
        }
        comm->send_end(failure || g_signal.load() != 0);
        comm->await_stop(); // rank 0's stop message, sent at the latest before its drain
        rep.trials_run = sent;
        rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const int code = comm->broadcast(0);
        if (!failure_text.empty()) {
            if (code != 0)
                throw std::runtime_error(failure_text);
            // Rank 0 finished the run: the failing block lay past its end (a stopping rule met
            // meanwhile), so the failure does not touch the results, nor does its LP file.
            std::error_code ec;
            fs::remove(opt.output + ".failed.lp", ec);
        }
        if (code != 0) // rank 0 stopped on a signal: leave with its code
            throw Interrupted(g_signal.load() ? g_signal.load() : SIGTERM, "(rank 0)");
        return rep;
    }

    check_output_path(opt.output, opt.overwrite);
    const fs::path target(opt.output);
    const OutputLock lock(target, opt.output);
    const fs::path ckpt(checkpoint_path(opt.output));
    if (const std::size_t len = ckpt.filename().string().size(),
        max = name_max(target.has_parent_path() ? target.parent_path() : fs::path("."));
        len > max)
        throw InputError("output file name '" + target.filename().string() +
                         "' is too long for its checkpoint '" + ckpt.filename().string() + "' (" +
                         std::to_string(len) + " bytes; the file system allows at most " +
                         std::to_string(max) + "): use a name at least " +
                         std::to_string(len - max) + " bytes shorter");
    {
        std::vector<std::pair<std::string, std::string>> inputs;
        for (std::size_t i = 0; i < model.files.size(); ++i)
            inputs.emplace_back(i ? "a file the config includes" : "the config",
                                model.files[i].path);
        if (!opt.resume.empty())
            inputs.emplace_back("the checkpoint being resumed", opt.resume);
        // Resuming writes OUT.checkpoint over the checkpoint it resumes: that one is fine.
        std::vector<fs::path> outputs{target};
        if (opt.resume.empty())
            outputs.push_back(ckpt);
        refuse_output_over_inputs(outputs, inputs);
    }
    {
        std::error_code ec;
        const bool resuming_it =
            !opt.resume.empty() && fs::equivalent(fs::path(opt.resume), ckpt, ec);
        // Something else at the checkpoint's path (a directory): the run could never checkpoint
        // there, and --overwrite must not remove it at the end.
        if (const auto st = fs::status(ckpt, ec); fs::exists(st) && !fs::is_regular_file(st))
            throw InputError("'" + ckpt.string() +
                             "', where this run would keep its checkpoint, exists and is not a "
                             "regular file; move it away or choose another output (-o)");
        if (!resuming_it && fs::exists(ckpt, ec) && !opt.overwrite)
            throw InputError("a checkpoint of an interrupted run exists at '" + ckpt.string() +
                             "'; continue it with `chokepoint run --resume " + ckpt.string() +
                             "`, or pass --overwrite to start afresh");
    }
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    // Hidden, beside the target (same file system, so the final rename is atomic).
    const fs::path tmp = temp_path(target);

    RunInfo info;
    info.threads = threads;
    info.ranks = ranks;
    info.overwrite = opt.overwrite;
    info.config_sha256 = config_digest(model);
    info.blocks_total = n_blocks;
    info.first_block = first;
    info.end_block = end;
    info.shard_index = shard_count > 0 ? shard_index : 0;
    info.shard_count = shard_count;
    info.resumed_by = resumed_by;

    const auto t0 = std::chrono::steady_clock::now();
    const auto models = run_models(model);
    std::vector<Dims> dims;
    for (const auto *sm : models)
        dims.push_back(dims_of(*sm));
    for (const auto *sm : models)
        info.input_names.push_back(kept_input_names(*sm));
    info.copied_demands = copied_demands(model, models);
    std::uint64_t planned = 0;
    for (std::uint64_t b = first; b < end; ++b)
        planned += std::min(bs, model.run.trials - b * bs);
    try {
        const QuietHdf5 quiet; // outlives the writer: its destructors' noise after a failed write
        std::unique_ptr<ResultWriter> writer;
        std::vector<Accumulators> total;
        for (const auto &d : dims)
            total.emplace_back(d);
        if (!opt.resume.empty()) {
            if (stored.state.size() != models.size())
                throw InputError("cannot resume '" + opt.resume + "': it holds the state of " +
                                 std::to_string(stored.state.size()) + " scenarios, the run has " +
                                 std::to_string(models.size()));
            for (std::size_t k = 0; k < models.size(); ++k)
                total[k] = Accumulators::load(dims[k], stored.state[k]);
            copy_and_sync(opt.resume, tmp);
            writer =
                std::make_unique<ResultWriter>(tmp.string(), model, info, ResultWriter::Resume{});
            writer->resume_running(total);
            if (writer->rows() != total[0].trials())
                throw InputError("cannot resume '" + opt.resume + "': it holds " +
                                 std::to_string(writer->rows()) + " trials but statistics of " +
                                 std::to_string(total[0].trials()));
        } else {
            writer = std::make_unique<ResultWriter>(tmp.string(), model, info);
        }
        // The blocks' tables are deflated in the parallel stage (a snapshot of the file's
        // layout: it outlives the writers a checkpoint replaces).
        const BlockPacker packer = opt.pack_blocks ? writer->packer() : BlockPacker();
        std::uint64_t done = writer->rows(), blocks_written = 0, next_block = start;
        const std::uint64_t done_at_start = done;
        std::unique_ptr<Progress> progress;
        std::recursive_mutex progress_mu; // the writer stage and the ticker share the Progress
        PipelineProbe probe;
        // Trials to report: those written, or more while blocks are in flight (trials simulated
        // in every scenario / scenarios; never fewer than written, never backwards).
        std::uint64_t shown_before = done;
        auto shown = [&]() -> std::uint64_t {
            const std::uint64_t sim = done_at_start + probe.trials.load() / models.size();
            shown_before = std::max({shown_before, done, std::min(sim, done_at_start + planned)});
            return shown_before;
        };
        if (!opt.quiet) {
            progress = std::make_unique<Progress>(std::cerr, opt.log_format, stderr_is_tty(),
                                                  planned, done, opt.progress_every);
            progress->event("start", {{"trials", std::to_string(planned)},
                                      {"scenarios", std::to_string(models.size())},
                                      {"threads", std::to_string(threads)},
                                      {"output", json_string(opt.output)}});
        }
        auto last_checkpoint = t0;

        auto checkpoint = [&] {
            std::lock_guard<std::recursive_mutex> g(progress_mu);
            writer->checkpoint(total, next_block);
            writer.reset();
            publish_checkpoint(tmp, ckpt);
            if (progress)
                progress->event("checkpoint", {{"path", json_string(ckpt.string())},
                                               {"trials_done", std::to_string(done)},
                                               {"next_block", std::to_string(next_block)}});
        };
        // run.stop_when: once the target is met after a block, later blocks are not written (the
        // decision depends only on the blocks before, in order: reproducible).
        std::atomic<bool> halted{false};
        const auto &rule = model.run.stop;
        int rule_demand = -1;
        for (std::size_t d = 0; d < model.demands.size(); ++d)
            if (model.demands[d].id == rule.demand)
                rule_demand = static_cast<int>(d);
        auto rule_moments = [&]() -> const Moments & {
            const auto d = static_cast<std::size_t>(rule_demand);
            return rule.statistic == Statistic::EUD      ? total[0].shortfall[d]
                   : rule.statistic == Statistic::PShort ? total[0].any_short[d]
                                                         : total[0].short_months[d];
        };
        auto rule_stat = [&]() -> std::pair<double, double> {
            const Moments &mo = rule_moments();
            return {mo.mean(), mo.se()};
        };
        // The trials the estimate rests on: (sum x)^2 / sum x^2 (Kish), the number of short
        // trials for p_short without importance weights; 0 before any trial was short.
        auto rule_effective = [&] {
            const Moments &mo = rule_moments();
            const double s = mo.sum(), s2 = mo.sum_sq();
            return s2 > 0 ? s * s / s2 : 0.0;
        };
        auto rule_met = [&] {
            if (!rule.enabled || rule_demand < 0 || done < rule.min_trials || done < 2)
                return false;
            // Before the demand was short often enough the standard error says nothing (0 while
            // it never was): a rare shortfall must not stop the run at 0 +- 0.
            if (rule_effective() < static_cast<double>(rule.min_effective_trials))
                return false;
            const auto [v, se] = rule_stat();
            return rule.relative ? se <= rule.se_below * std::abs(v) : se <= rule.se_below;
        };
        auto deliver = [&](const std::vector<BlockResult> &b) {
            std::lock_guard<std::recursive_mutex> g(progress_mu);
            if (halted.load())
                return; // beyond the stopping block
            const auto entered = std::chrono::steady_clock::now();
            struct Clock {
                double &sum;
                std::chrono::steady_clock::time_point from;
                ~Clock() {
                    sum += std::chrono::duration<double>(std::chrono::steady_clock::now() - from)
                               .count();
                }
            } clock{rep.writer_seconds, entered};
            rep.packed_chunks += writer->append(b);
            for (std::size_t k = 0; k < total.size(); ++k)
                total[k].merge(b[k].acc);
            done += b.front().count;
            rep.trials_run += b.front().count;
            ++next_block;
            if (rule_met()) {
                halted.store(true);
                if (progress)
                    progress->event("target_met", {{"trials_done", std::to_string(done)},
                                                   {"estimate", json_number(rule_stat().first)},
                                                   {"se", json_number(rule_stat().second)}});
            }
            if (opt.fail_after_blocks != 0 && ++blocks_written == opt.fail_after_blocks)
                throw std::system_error(EIO, std::generic_category(),
                                        "writing '" + tmp.string() +
                                            "': simulated I/O error after " +
                                            std::to_string(blocks_written) +
                                            " blocks (test hook RunOptions::fail_after_blocks)");
            if (progress)
                progress->update(shown());
            const auto now = std::chrono::steady_clock::now();
            // (Not after the block that met the stopping rule: the file is finished next.)
            if (opt.checkpoint_every > 0 && next_block < end && !halted.load() &&
                std::chrono::duration<double>(now - last_checkpoint).count() >=
                    opt.checkpoint_every) {
                checkpoint();
                writer = std::make_unique<ResultWriter>(tmp.string(), model, info,
                                                        ResultWriter::Resume{});
                writer->resume_running(total);
                last_checkpoint = std::chrono::steady_clock::now();
            }
        };

        std::unique_ptr<LpFailure> failure;
        std::optional<ProgressTicker> ticker;
        if (progress)
            ticker.emplace(*progress, progress_mu, probe, shown, ckpt.string());
        const auto pipeline_start = std::chrono::steady_clock::now();
        rep.setup_seconds = std::chrono::duration<double>(pipeline_start - t0).count();
        // A checkpoint written by the block that met the stopping rule (then a kill before the
        // file was finished): resumed, it adds no block.
        if (rule_met())
            halted.store(true);
        std::string early_stop; // MPI: a rank that ended before its blocks did and so stopped us
        if (!comm) {
            rep.alloc = pipeline(model, threads, {start, end, 1}, deliver, &halted, &failure,
                                 &probe, &packer);
        } else {
            // Rank 0 simulates blocks start, start + P, ...; before writing its own block b it
            // receives and writes the other ranks' blocks below b, so that every block is written
            // in order. A rank's end message before its block means it stopped (a signal).
            const auto P = static_cast<std::uint64_t>(ranks);
            std::vector<char> ended(static_cast<std::size_t>(ranks), 0);
            bool stopped = false;
            std::vector<BlockResult> incoming;
            auto owner = [&](std::uint64_t b) { return static_cast<int>((b - start) % P); };
            auto receive_upto = [&](std::uint64_t upto) {
                // Past a met stopping rule nothing more is written (the drain below takes the
                // other ranks' messages); their early ends are then expected, not a signal.
                while (!stopped && !halted.load() && next_block < upto) {
                    if (g_signal.load() != 0) {
                        stopped = true; // a signal here: nothing more is written
                        break;
                    }
                    const int o = owner(next_block);
                    if (o == 0 || ended[static_cast<std::size_t>(o)]) {
                        stopped = true; // rank 0's own block, or a rank that ended: a gap
                        break;
                    }
                    if (!comm->receive(o, dims, incoming)) {
                        ended[static_cast<std::size_t>(o)] = 1;
                        stopped = true;
                        if (g_signal.load() == 0)
                            early_stop =
                                "rank " + std::to_string(o) +
                                " ended before its blocks did (a signal or a failure there)";
                        break;
                    }
                    // Another rank's block comes with its chunks deflated there; what it could
                    // not pack (a layout that differs) is deflated here, in a parallel loop
                    // that this rank's other threads join when they are between tasks.
                    // Writer-stage time either way.
                    const auto packing = std::chrono::steady_clock::now();
                    rep.received_tables_deflated += packer.pack(incoming);
                    rep.writer_seconds +=
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - packing)
                            .count();
                    deliver(incoming);
                }
                if (stopped && g_signal.load() == 0)
                    g_signal.store(SIGTERM); // another rank stopped: stop here and checkpoint
            };
            {
                // The other ranks are told to stop as soon as the run stops: its stopping rule
                // met, a signal here, or a rank that ended early (a signal or a failure there),
                // while this rank simulates and while it receives the last blocks.
                const Periodic watcher(kStopPoll, [&] {
                    if (g_signal.load() == 0 && !halted.load() && !comm->early_end_pending())
                        return false;
                    comm->send_stop();
                    return true;
                });
                rep.alloc = pipeline(
                    model, threads, {start, end, P},
                    [&](const std::vector<BlockResult> &b) {
                        receive_upto(b.front().first_trial / bs);
                        if (!stopped)
                            deliver(b);
                    },
                    &halted, &failure, &probe, &packer);
                if (failure)
                    stopped = true; // rank 0's own block failed: write nothing after it
                if (!stopped && g_signal.load() == 0 && !halted.load()) {
                    // Past the pipeline: the packing's parallel loops on the run's threads only.
                    tbb::task_arena arena(threads);
                    arena.execute([&] { receive_upto(end); });
                }
            }
            // Drain: every rank sends its end message; blocks past a gap are dropped.
            comm->send_stop(); // a no-op if sent already; each rank waits for one
            for (int r = 1; r < ranks; ++r)
                while (!ended[static_cast<std::size_t>(r)])
                    if (!comm->receive(r, dims, incoming))
                        ended[static_cast<std::size_t>(r)] = 1;
        }

        ticker.reset(); // the Progress is this thread's alone again
        rep.pipeline_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - pipeline_start)
                .count();

        auto rungs = [&] {
            RungCounts r;
            for (const auto &t : total)
                r.merge(t.lp_rungs);
            return r;
        };
        if (failure) {
            // No rung solved an LP: keep what came before it, and say where it happened.
            const fs::path lp_file = opt.output + ".failed.lp";
            const std::string why = write_failed_lp(*failure, lp_file, model);
            checkpoint();
            std::error_code ec;
            fs::remove(tmp, ec);
            if (progress) {
                progress->event("lp_failure", {{"message", json_string(failure->describe())},
                                               {"lp_file", json_string(lp_file.string())},
                                               {"checkpoint", json_string(ckpt.string())},
                                               {"trials_done", std::to_string(done)}});
                Progress::Final fin;
                fin.trials_done = done;
                fin.trials_total = planned;
                fin.seconds =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                fin.threads = threads;
                fin.output = ckpt.string();
                fin.status = "failed";
                progress->set_lp_rungs(rungs());
                progress->finish(fin);
                progress.reset();
            }
            if (comm)
                comm->broadcast(1);
            const std::string config =
                model.files.empty() ? std::string("CONFIG") : model.files[0].path;
            throw std::runtime_error(
                failure->describe() + ". " +
                (why.empty() ? "The LP is in '" + lp_file.string() + "' (CPLEX LP format)" : why) +
                "; replay the trial with `chokepoint trial " + config + " --trial " +
                std::to_string(failure->trial) + " --seed " + std::to_string(model.run.seed) +
                " --trials " + std::to_string(model.run.trials) + " --scenario " +
                failure->scenario + "`. The " + std::to_string(done) +
                " trials before it are saved in the checkpoint '" + ckpt.string() +
                "'; continue with `chokepoint run --resume " + ckpt.string() +
                "` (add --allow-version-change after upgrading chokepoint). Please report the "
                "LP file and the config");
        }
        if (const int sig = g_signal.load(); sig != 0 && next_block < end && !halted.load()) {
            // A checkpoint that cannot be written (a full disk) still ends the run as the signal
            // asked, with 128 + N and the reason (docs/robustness.md), not as a runtime failure.
            std::string failed;
            try {
                checkpoint();
            } catch (const H5::Exception &e) {
                const std::string cause = hdf5_cause(e);
                failed = "HDF5: " + e.getFuncName() + ": " + e.getDetailMsg() +
                         (cause.empty() ? "" : ": " + cause);
            } catch (const std::exception &e) {
                failed = e.what();
            }
            std::error_code ec;
            fs::remove(tmp, ec);
            const std::string saved = failed.empty() ? ckpt.string() : std::string();
            if (progress) {
                progress->event("interrupted", {{"signal", std::to_string(sig)},
                                                {"trials_done", std::to_string(done)},
                                                {"checkpoint", json_string(saved)}});
                Progress::Final fin;
                fin.trials_done = done;
                fin.trials_total = planned;
                fin.seconds =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                fin.threads = threads;
                fin.output = saved;
                fin.status = "interrupted";
                progress->set_lp_rungs(rungs());
                progress->finish(fin);
                progress.reset();
            }
            if (comm)
                comm->broadcast(failed.empty() ? 75 : 128 + sig);
            throw Interrupted(sig, saved,
                              failed.empty() ? ""
                                             : "the checkpoint '" + ckpt.string() +
                                                   "' could not be saved: " + failed,
                              g_own_signal.load() == 0 ? early_stop : std::string());
        }
        if (rule.enabled && rule_demand >= 0) {
            auto &wi = writer->info();
            wi.stop_met = halted.load() || rule_met();
            std::tie(wi.stop_value, wi.stop_se) = rule_stat();
            wi.stop_effective = rule_effective();
        }
        const auto finish_start = std::chrono::steady_clock::now();
        writer->finish(total); // closes the file
        rep.finish_times = writer->finish_times();
        writer.reset();
        rep.finish_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - finish_start).count();
        rep.trials = done;
        if (shard_count > 0)
            seal_file(tmp.string()); // a shard is read back by merge: sealed like a checkpoint
        sync_file(tmp);
        std::error_code ec;
        publish(tmp, target, opt.overwrite, opt.output);
        // The results are in place; a failure to make the rename durable is only worth a warning.
        if (const auto dec = sync_directory(dir))
            std::cerr << "chokepoint: warning: cannot flush directory '" << dir.string()
                      << "' to disk: " << dec.message() << "\n";
        fs::remove(ckpt, ec); // the finished file supersedes the checkpoint
        rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (progress) {
            Progress::Final fin;
            fin.trials_done = fin.trials_total = done;
            fin.seconds = rep.seconds;
            fin.threads = threads;
            fin.output = opt.output;
            fin.complete = true;
            fin.status = "complete";
            progress->set_lp_rungs(rungs());
            progress->finish(fin);
        }
        if (comm)
            comm->broadcast(0);
    } catch (const H5::Exception &e) {
        const std::string cause = hdf5_cause(e);
        std::error_code ec;
        fs::remove(tmp, ec);
        throw std::runtime_error("writing '" + opt.output + "' failed: HDF5: " + e.getFuncName() +
                                 ": " + e.getDetailMsg() + (cause.empty() ? "" : ": " + cause));
    } catch (...) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw;
    }
    return rep;
}

RunReport merge_shards(const std::string &output, const std::vector<std::string> &inputs,
                       bool overwrite) {
    if (inputs.empty())
        throw InputError("merge: no shard files given");
    std::vector<StoredRun> runs;
    for (const auto &p : inputs)
        runs.push_back(read_stored_run(p));
    const StoredRun &a = runs.front();
    for (const auto &r : runs) {
        auto refuse = [&](const std::string &why) {
            throw InputError("merge: '" + r.path + "' " + why);
        };
        if (r.shard_count == 0)
            refuse("is not a shard (it was not run with --shard K/N)");
        if (!r.complete)
            refuse("is incomplete (a checkpoint): finish it first with `chokepoint run --resume " +
                   r.path + "`");
        if (!r.has_state)
            refuse("holds no statistics state (/state)");
        auto differs = [&](const char *what, const std::string &x, const std::string &y) {
            if (x != y)
                refuse("is from a different run than '" + a.path + "': " + what + " " + x + " vs " +
                       y);
        };
        differs("config (SHA-256 of the config texts)", r.config_sha256, a.config_sha256);
        differs("seed", std::to_string(r.seed), std::to_string(a.seed));
        differs("trials", std::to_string(r.trials_planned), std::to_string(a.trials_planned));
        differs("block size", std::to_string(r.block_size), std::to_string(a.block_size));
        differs("program version", r.program_version + " (" + r.git_commit + ")",
                a.program_version + " (" + a.git_commit + ")");
        differs("shard count", std::to_string(r.shard_count), std::to_string(a.shard_count));
        const auto [f, e] = shard_blocks(r.blocks_total, r.shard_index, r.shard_count);
        if (r.first_block != f || r.end_block != e || r.next_block != e)
            refuse("does not hold the blocks its shard number says (damaged file)");
    }
    if (a.program_version != kVersion || a.git_commit != kGitCommit)
        throw InputError("merge: the shards were written by chokepoint " + a.program_version +
                         " (" + a.git_commit + "), this is " + kVersion + " (" + kGitCommit +
                         "); merge them with the program that wrote them");
    const int N = a.shard_count;
    std::vector<const StoredRun *> by_index(static_cast<std::size_t>(N) + 1, nullptr);
    for (const auto &r : runs) {
        auto &slot = by_index[static_cast<std::size_t>(r.shard_index)];
        if (slot)
            throw InputError("merge: shard " + std::to_string(r.shard_index) + "/" +
                             std::to_string(N) + " is given twice: '" + slot->path + "' and '" +
                             r.path + "'");
        slot = &r;
    }
    std::string missing;
    for (int k = 1; k <= N; ++k)
        if (!by_index[static_cast<std::size_t>(k)])
            missing += (missing.empty() ? "" : ", ") + std::to_string(k);
    if (!missing.empty())
        throw InputError(
            "merge: shard" + std::string(missing.find(',') != std::string::npos ? "s " : " ") +
            missing + " of " + std::to_string(N) + " missing (given " +
            std::to_string(runs.size()) + " file" + (runs.size() == 1 ? "" : "s") + ")");

    Model model = model_of(a);
    if (config_digest(model) != a.config_sha256)
        throw InputError("merge: '" + a.path + "': its config texts do not match its digest");
    // The shards' fitted proposal (run.importance.cross_entropy) for the merged file's
    // /importance: refitted, as each shard fitted it (deterministic).
    fit_importance(model, 0, nullptr);
    check_output_path(output, overwrite);
    {
        std::vector<std::pair<std::string, std::string>> shards;
        for (const auto &p : inputs)
            shards.emplace_back("a shard being merged", p);
        refuse_output_over_inputs({fs::path(output)}, shards);
    }
    const fs::path target(output);
    const OutputLock lock(target, output);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const fs::path tmp = temp_path(target);
    RunInfo info;
    info.threads = 1;
    info.config_sha256 = a.config_sha256;
    info.blocks_total = a.blocks_total;
    info.first_block = 0;
    info.end_block = a.blocks_total;
    const auto t0 = std::chrono::steady_clock::now();
    RunReport rep;
    try {
        const QuietHdf5 quiet;
        const auto models = run_models(model);
        std::vector<Accumulators> total;
        for (const auto *sm : models)
            total.emplace_back(dims_of(*sm));
        for (const auto *sm : models)
            info.input_names.push_back(kept_input_names(*sm));
        info.copied_demands = copied_demands(model, models);
        {
            ResultWriter writer(tmp.string(), model, info);
            std::vector<BlockResult> blk;
            const std::uint64_t bs = model.run.block_size;
            for (int k = 1; k <= N; ++k) {
                const StoredRun &r = *by_index[static_cast<std::size_t>(k)];
                if (r.state.size() != models.size())
                    throw InputError("merge: '" + r.path + "' holds " +
                                     std::to_string(r.state.size()) + " scenarios, not " +
                                     std::to_string(models.size()));
                for (std::size_t j = 0; j < models.size(); ++j)
                    total[j].merge(Accumulators::load(dims_of(*models[j]), r.state[j]));
                TrialReader reader(r.path, model);
                for (std::uint64_t row = 0; row < reader.rows(); row += bs) {
                    reader.read(row, std::min(bs, reader.rows() - row), blk);
                    writer.append(blk);
                }
                if (g_signal.load() != 0)
                    throw Interrupted(g_signal.load());
            }
            if (total[0].trials() != model.run.trials || writer.rows() != model.run.trials)
                throw InputError("merge: the shards hold " + std::to_string(writer.rows()) +
                                 " trials, the run plans " + std::to_string(model.run.trials));
            writer.finish(total);
            rep.finish_times = writer.finish_times();
        }
        rep.trials = total[0].trials();
        sync_file(tmp);
        publish(tmp, target, overwrite, output);
        sync_directory(dir);
    } catch (const H5::Exception &e) {
        const std::string cause = hdf5_cause(e);
        std::error_code ec;
        fs::remove(tmp, ec);
        throw std::runtime_error("writing '" + output + "' failed: HDF5: " + e.getFuncName() +
                                 ": " + e.getDetailMsg() + (cause.empty() ? "" : ": " + cause));
    } catch (...) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw;
    }
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

} // namespace chokepoint
